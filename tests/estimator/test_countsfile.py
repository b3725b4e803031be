"""The training run's counts file as read by estimate --counts."""

import json

import pytest

from pbitsim import OpCounter
from pbitsim.estimator.countsfile import CountsFileError, load_counts_file


def counts_doc(**change):
    counter = OpCounter({"add:fp32": 1000, "pbit_sample": 700, "act_read:u3": 100})
    doc = json.loads(counter.to_json(algo="bsff", tiles=7, arch="cwc-mnist",
                                     dataset="fashion-mnist", activation_density=0.21,
                                     layer_density=[0.2, 0.22, 0.21, 0.19],
                                     train_samples=10, epochs=2, test_samples=5))
    doc["inference_counts"] = {"add:fp32": 50}
    doc.update(change)
    return doc


def write(tmp_path, doc):
    path = tmp_path / "counts.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_reads_a_run(tmp_path):
    run = load_counts_file(write(tmp_path, counts_doc()))
    assert (run.algo, run.arch, run.tiles) == ("bsff", "cwc-mnist", 7)
    assert run.densities == (0.2, 0.22, 0.21, 0.19)
    assert run.train_per_sample() == {"add:fp32": 50.0, "pbit_sample": 35.0, "act_read:u3": 5.0}
    assert run.inference_per_sample() == {"add:fp32": 10.0}
    overall = load_counts_file(write(tmp_path, counts_doc(layer_density=None)))
    assert overall.densities == (0.21,)
    # What a real-valued run writes: no tiles, no densities, no p-bit samples.
    real = load_counts_file(write(tmp_path, counts_doc(algo="cwc", tiles=None,
                                                       activation_density=None,
                                                       layer_density=[],
                                                       counts={"add:fp32": 1000})))
    assert (real.algo, real.tiles, real.densities) == ("cwc", None, None)
    assert run.device is None
    digital = load_counts_file(write(tmp_path, counts_doc(device="digital:lut_width=8")))
    assert digital.device == "digital:lut_width=8"


@pytest.mark.parametrize("doc, message", [
    ("{not json", "not JSON"),
    ([1, 2], "format"),
    (counts_doc(format="other"), "format"),
    (counts_doc(version=2), "version"),
    (counts_doc(algo=3), "'algo'"),
    (counts_doc(arch=""), "'arch'"),
    (counts_doc(train_samples=0), "'train_samples'"),
    (counts_doc(epochs="2"), "'epochs'"),
    (counts_doc(activation_density=1.5, layer_density=None), "activation_density"),
    (counts_doc(layer_density=[0.2, 0]), r"layer_density\[1\]"),
    (counts_doc(layer_density=0.2), "'layer_density'"),
    (counts_doc(counts={"add:fp32": -1}), "counts"),
    (counts_doc(counts=[1]), "'counts'"),
    (counts_doc(inference_counts={"add:fp32": 1.5}), "inference_counts"),
    (counts_doc(device=""), "'device'"),
    (counts_doc(config=[1]), "'config' must be a mapping"),
    (counts_doc(config={"algo": "cwc"}), "config.algo 'cwc' is not the file's algo 'bsff'"),
    (counts_doc(config={"algo": "bsff", "batch_size": "128"}), "config.batch_size must be"),
    (counts_doc(config={"algo": "bsff", "update": 1}), "config.update must be a string"),
    (counts_doc(config={"algo": "bsff", "weight_bits": 99}), "config: --weight-bits must be"),
])
def test_malformed(tmp_path, doc, message):
    with pytest.raises(CountsFileError, match=message):
        load_counts_file(write(tmp_path, doc))


def test_missing_file(tmp_path):
    with pytest.raises(CountsFileError, match="cannot read"):
        load_counts_file(tmp_path / "nope.json")


def test_the_run_options_are_read_as_results_json_records_them(tmp_path):
    from pbitsim.options import RunOptions
    options = RunOptions.checked(algo="bgbsff", tiles=3, update="shift", batch_size=64,
                                 eval_samples=2, weight_bits=8)
    run = load_counts_file(write(tmp_path, counts_doc(algo="bgbsff", tiles=3,
                                                      config=options.recorded())))
    assert run.options == options
    assert {k: run.estimate_options()[k] for k in ("update", "batch_size", "eval_samples",
                                                   "weight_bits", "acc_bits")} == \
        {"update": "shift", "batch_size": 64, "eval_samples": 2, "weight_bits": 8, "acc_bits": 32}
    # the choices come from the options, not from an earlier version's model_params
    both = load_counts_file(write(tmp_path, counts_doc(
        algo="bgbsff", tiles=3, config=options.recorded(), model_params={"batch_size": 8})))
    assert both.estimate_options()["batch_size"] == 64
