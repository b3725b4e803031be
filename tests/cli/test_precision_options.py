"""`--weight-bits`, `--acc-bits`, `--grad-bits` on `estimate` and `train`: one `Error:` line for a
bad width, the widths in the estimate's counts and JSON, torch-free estimate."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.config import MAX_BITS, MIN_BITS
from pbitsim.estimator import estimate as run_estimate
from pbitsim.precision import make_precision

BAD = [
    (["--weight-bits", "0"], f"--weight-bits must be in {MIN_BITS}..{MAX_BITS}"),
    (["--weight-bits", "65"], "got 65"),
    (["--weight-bits", "8", "--acc-bits", "65"], "--acc-bits must be in"),
    (["--weight-bits", "8", "--grad-bits", "1"], "--grad-bits must be in"),
    (["--weight-bits", "16", "--acc-bits", "8"], "narrower than --weight-bits 16"),
    (["--weight-bits", "8", "--acc-bits", "12", "--grad-bits", "16"],
     "narrower than --grad-bits 16"),
    (["--acc-bits", "16"], "--acc-bits needs --weight-bits"),
    (["--grad-bits", "8"], "--grad-bits needs --weight-bits"),
]


def _one_error(result, needle):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], result.output


@pytest.mark.parametrize("args, needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_widths_are_one_error_line(args, needle, tmp_path):
    _one_error(CliRunner().invoke(cli, ["estimate", "--arch", "cfse-mnist", *args]), needle)
    # train refuses before reading any data (no data folder exists here)
    _one_error(CliRunner().invoke(cli, ["train", "--data-dir", str(tmp_path / "none"), "--out",
                                        str(tmp_path / "run"), *args]), needle)


def test_train_refuses_rules_without_a_fixed_point_form(tmp_path):
    out = ["--data-dir", str(tmp_path), "--out", str(tmp_path / "run")]
    _one_error(CliRunner().invoke(cli, ["train", "--algo", "mf", "--arch", "mf-mlp-2x1000",
                                        "--weight-bits", "8", *out]), "--weight-bits applies to")
    _one_error(CliRunner().invoke(cli, ["train", "--algo", "bgbsff", "--weight-bits", "8",
                                        "--grad-bits", "8", *out]), "does not apply to bgbsff")


def test_estimate_prices_every_rule_at_the_same_widths():
    result = CliRunner().invoke(cli, ["estimate", "--arch", "cfse-mnist", "--weight-bits", "8",
                                      "--acc-bits", "32", "--json", "-"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["precision"] == "w8a32"
    assert set(doc["algorithms"]) == {"bp", "cwc", "bsff", "bgbsff"}  # mf/bsmf: no fixed form
    est = run_estimate("cfse-mnist", ["bp", "bsff"], weight_bits=8, acc_bits=32)
    for algo in est.algos:
        counts = algo.counts["train"]
        assert "weight_read:int8" in counts and "add:int32" in counts
        # the products fetch fixed-point words; fp32 reads are the master copy's (the optimizer,
        # the quantizer, batch norm), a small share
        assert counts["weight_read:int8"] > 5 * counts["weight_read:fp32"]
    assert "mul:int8" in est.get("bp").counts["train"]


def test_narrower_datapaths_cost_less_and_default_is_fp32():
    fp = run_estimate("cfse-mnist", ["bsff", "cwc"])
    assert fp.params.precision == make_precision()
    pj = {}
    for bits in ((16, 32), (8, 32), (8, 16), (4, 12)):
        e = run_estimate("cfse-mnist", ["bsff", "cwc"], weight_bits=bits[0], acc_bits=bits[1])
        pj[bits] = e.get("bsff").total_pj("inference")
    assert fp.get("bsff").total_pj("inference") > pj[(16, 32)] > pj[(8, 32)] > pj[(8, 16)] \
        > pj[(4, 12)]


def test_estimate_with_widths_imports_neither_torch_nor_numba():
    code = ("import sys\n"
            "from pbitsim.cli.main import cli\n"
            "cli.main(['estimate', '--weight-bits', '8', '--grad-bits', '8'],"
            " standalone_mode=False)\n"
            "sys.stderr.write(repr(sorted(m for m in ('torch', 'numba') if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "w8a32g8" in proc.stdout and proc.stderr.strip() == "[]"
