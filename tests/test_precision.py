"""The datapath's widths: checked once (limits in config), labels round-trip, fp32 default."""

import pytest

from pbitsim.config import DEFAULT_FIXED_ACC_BITS, MAX_BITS, MIN_BITS
from pbitsim.precision import FP32, Precision, make_precision, parse_label


def test_defaults_and_labels():
    assert make_precision() is FP32 and not FP32.fixed and FP32.label() == "fp32"
    p = make_precision(8)
    assert p == Precision(8, DEFAULT_FIXED_ACC_BITS, None) and p.label() == "w8a32"
    assert make_precision(8, 16, 8).label() == "w8a16g8"
    assert make_precision(8, grad_bits=40).acc_bits == 40  # wide enough for a gradient word
    for p in (FP32, make_precision(4, 12), make_precision(8, 16, 6), make_precision(64, 64)):
        assert parse_label(p.label()) == p
    assert parse_label("w8") == make_precision(8)
    assert make_precision(8, 16, 4).weight_dtype == "int8"
    assert make_precision(8, 16, 4).grad_mul_dtype == "int8"


@pytest.mark.parametrize("args, needle", [
    ((MIN_BITS - 1,), f"{MIN_BITS}..{MAX_BITS}"), ((MAX_BITS + 1,), "got 65"),
    ((8, 4), "narrower"), ((8, 12, 16), "narrower than --grad-bits"),
    ((None, 16), "needs --weight-bits"), ((None, None, 8), "needs --weight-bits"),
    ((True,), "integer"), ((8.0,), "integer")])
def test_bad_widths(args, needle):
    with pytest.raises(ValueError, match=needle.replace(".", r"\.")):
        make_precision(*args)


def test_bad_labels():
    for label in ("int8", "w", "w8x", "w0", "w8a4"):
        with pytest.raises(ValueError):
            parse_label(label)


def test_hardware_summary_takes_a_datapath():
    from pbitsim.estimator import hardware_summary
    fp = hardware_summary("cfse-mnist", "bsff", 7)
    q = hardware_summary("cfse-mnist", "bsff", 7, precision=parse_label("w8a16"))
    assert fp["precision"] == "fp32" and q["precision"] == "w8a16"
    assert q["energy_train_pj_per_sample"] < fp["energy_train_pj_per_sample"]
    assert q["n_pbits"] == fp["n_pbits"]
