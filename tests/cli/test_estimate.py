"""`pbitsim estimate`: output, JSON/CSV, --counts, one-line errors, no torch import."""

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pbitsim import OpCounter
from pbitsim.cli.main import cli
from pbitsim.hardware.tables import load_table


def run(*args):
    return CliRunner().invoke(cli, ["estimate", *args])


def test_default_run():
    result = run()
    assert result.exit_code == 0, result.output
    out = result.output
    # the default: the CwC-FF reference's CFSE net for CIFAR-10; units (before pooling)
    # 20x32x32 + 80x32x32 + 240x16x16 + 480x16x16 = 286,720, x 7 tiles, 0.8 um^2 each
    for text in ("cfse-cifar10", "horowitz-45nm", "BP", "CwC-FF", "BSFF M=7", "BGBSFF M=7",
                 "Largest terms", "Assumptions", "density 0.15", "vs BP", "vs CwC-FF",
                 "not estimated: ff on cfse-cifar10",
                 "p-bit hardware, device ideal", "2,007,040", "1.61 mm^2",
                 "priced as the table's smtj", "286,720 units x M = 2,007,040 p-bits"):
        assert text in out


def test_json_to_stdout():
    result = run("--json", "-")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["format"] == "pbitsim-estimate" and doc["arch"] == "cfse-cifar10"
    algos = doc["algorithms"]
    assert list(algos) == ["bp", "cwc", "bsff", "bgbsff"]  # Hinton's FF needs an MLP
    for name, numbers in algos.items():
        assert numbers["train_per_epoch_pj"] == pytest.approx(
            numbers["train_per_sample_pj"] * 45000)
        split = numbers["train_split_pj"]
        assert sum(split.values()) == pytest.approx(numbers["train_per_sample_pj"])
        assert numbers["ratio_to_ff"] == pytest.approx(
            numbers["train_per_sample_pj"] / algos["cwc"]["train_per_sample_pj"])
        layers = sum(layer["train_pj"] for layer in numbers["layers"])
        assert layers == pytest.approx(numbers["train_per_sample_pj"])
    assert algos["bsff"]["train_split_pj"]["pbit"] > 0
    assert algos["bp"]["train_split_pj"]["pbit"] == 0
    # The expected ordering of the model: BGBSFF < BSFF < CwC-FF < BP for training.
    energy = [algos[a]["train_per_sample_pj"] for a in ("bgbsff", "bsff", "cwc", "bp")]
    assert energy == sorted(energy)


def test_csv_matches_json(tmp_path):
    json_path = tmp_path / "e.json"
    result = run("--algo", "cwc,bsff", "--tiles", "3", "--csv", "-", "--json", str(json_path))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["algo", "scope", "layer", "phase", "key", "count", "energy_pj"]
    doc = json.loads(json_path.read_text())
    for algo in ("cwc", "bsff"):
        detail = sum(float(r[6]) for r in rows[1:]
                     if r[0] == algo and r[1] == "train" and r[2] != "all")
        total = next(float(r[6]) for r in rows[1:]
                     if r[0] == algo and r[1] == "train" and r[4] == "total")
        numbers = doc["algorithms"][algo]
        assert detail == pytest.approx(total)
        assert total == pytest.approx(numbers["train_per_sample_pj"])
        epoch = next(float(r[6]) for r in rows[1:] if r[0] == algo and r[1] == "train_epoch")
        assert epoch == pytest.approx(numbers["train_per_epoch_pj"])
    assert any(r[4] == "act_read:u2" for r in rows[1:])          # M = 3 tile counts


def test_options_change_the_numbers():
    def total(*args):
        doc = json.loads(run("--algo", "bsff", "--json", "-", *args).output)
        return doc["algorithms"]["bsff"]["train_per_sample_pj"]
    base = total()
    assert total("--density", "0.3") > base
    assert total("--tiles", "1") < base
    assert total("--table", "jouppi-7nm") < base
    assert total("--device", "digital") > base
    per_layer = total("--density", "0.15,0.15,0.15,0.15")
    assert per_layer == pytest.approx(base)
    doc = json.loads(run("--json", "-", "--epochs", "3", "--train-size", "1000").output)
    cwc = doc["algorithms"]["cwc"]
    assert cwc["train_run_pj"] == pytest.approx(cwc["train_per_sample_pj"] * 3000)


def test_per_layer_and_archs(tmp_path):
    result = run("--arch", "cwc-mnist", "--per-layer")
    assert result.exit_code == 0, result.output
    for text in ("Per layer", "conv1", "conv4", "head"):
        assert text in result.output
    arch = tmp_path / "net.toml"
    arch.write_text('name = "net"\ninput = [1, 8, 8]\nclasses = 10\n'
                    '[[layers]]\ntype = "dense"\nunits = 16\n')
    result = run("--arch", str(arch), "--json", "-")
    assert result.exit_code == 0 and json.loads(result.output)["arch"] == "net"
    for name in ("ff-mlp-4x2000", "mf-mlp-2x1000", "mf-mlp-3x2000"):
        assert run("--arch", name, "--json", "-").exit_code == 0


def test_device_choice(tmp_path):
    """p-bit energy, count and area follow --device, in JSON, CSV and the tables."""
    def doc(*args):
        result = run("--json", "-", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    ideal, digital = doc(), doc("--device", "digital")
    assert ideal["device"]["spec"] == "ideal" and ideal["device"]["priced_as"] == "smtj"
    assert digital["device"]["spec"] == "digital"
    assert digital["device"]["energy_per_sample_pj"] == pytest.approx(1.115415)
    assert digital["device"]["area_um2"] == pytest.approx(1918.506)
    for name in ("bsff", "bgbsff"):
        a, d = ideal["algorithms"][name], digital["algorithms"][name]
        assert a["n_pbits"] == d["n_pbits"] == 2007040
        assert sum(layer["n_pbits"] for layer in d["layers"]) == 2007040
        assert a["pbit_area_mm2"] == pytest.approx(2007040 * 0.8e-6)
        assert d["pbit_area_mm2"] == pytest.approx(2007040 * 1918.506e-6)
        assert d["train_split_pj"]["pbit"] == pytest.approx(
            a["train_split_pj"]["pbit"] / 0.002 * 1.115415)
        assert d["train_split_pj"]["compute"] == pytest.approx(a["train_split_pj"]["compute"])
        assert d["pbit_energy_share"] == pytest.approx(
            d["train_split_pj"]["pbit"] / d["train_per_sample_pj"])
    assert digital["algorithms"]["bp"]["n_pbits"] == 0
    bigger = doc("--device", "digital:rng=xoshiro128", "--algo", "bsff")["algorithms"]["bsff"]
    assert bigger["pbit_area_mm2"] > digital["algorithms"]["bsff"]["pbit_area_mm2"]

    result = run("--device", "digital:lut_width=8", "--algo", "bsff", "--tiles", "3",
                 "--per-layer", "--csv", str(tmp_path / "e.csv"))
    assert result.exit_code == 0, result.output
    for text in ("device digital:lut_width=8", "860,160", "p-bits", "61,440",
                 "p-bit device: digital (s4.3 input, 256 x 8-bit LUT", "its parts: register"):
        assert text in result.output
    rows = list(csv.reader(io.StringIO((tmp_path / "e.csv").read_text())))
    hardware = {(r[2], r[4]): float(r[5]) for r in rows if r[1] == "hardware"}
    assert hardware[("all", "n_pbits")] == 286720 * 3
    assert hardware[("conv3", "n_pbits")] == 240 * 16 * 16 * 3
    assert hardware[("head", "n_pbits")] == 0
    area = load_table().with_device("digital:lut_width=8").device_cost().area_um2
    assert hardware[("all", "pbit_area_mm2")] == pytest.approx(286720 * 3 * area * 1e-6)


def write_counts(tmp_path, **change):
    counter = OpCounter({"add:fp32": 10 ** 12, "pbit_sample": 10 ** 9, "act_read:u3": 10 ** 8,
                         "weight_read:fp32": 10 ** 11})
    doc = json.loads(counter.to_json(algo="bsff", tiles=7, arch="cwc-mnist",
                                     dataset="fashion-mnist", activation_density=0.2,
                                     layer_density=[0.2, 0.25, 0.2, 0.1],
                                     train_samples=60000, epochs=2, test_samples=10000))
    doc["inference_counts"] = {"add:fp32": 10 ** 9, "pbit_sample": 10 ** 7}
    doc.update(change)
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(doc))
    return path


def test_counts_file(tmp_path):
    path = write_counts(tmp_path)
    result = run("--counts", str(path), "--json", "-")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["arch"] == "cwc-mnist" and doc["tiles"] == 7
    assert doc["densities"] == [0.2, 0.25, 0.2, 0.1]
    assert list(doc["algorithms"]) == ["bp", "cwc", "bsff"]  # ff skipped: the net has convs
    measured = doc["measured"]
    per_sample = (10 ** 12 * 0.9 + 10 ** 9 * 0.002 + 10 ** 8 * 10 * 3 / 64
                  + 10 ** 11 * 5) / 120000
    assert measured["train_per_sample_pj"] == pytest.approx(per_sample)
    assert measured["inference_pj"] == pytest.approx((10 ** 9 * 0.9 + 10 ** 7 * 0.002) / 10000)
    assert measured["analytic_train_per_sample_pj"] == pytest.approx(
        doc["algorithms"]["bsff"]["train_per_sample_pj"])
    shown = run("--counts", str(path))
    assert shown.exit_code == 0 and "Measured counts" in shown.output
    assert "measured / analytic" in shown.output
    # Explicit options win over the file.
    doc = json.loads(run("--counts", str(path), "--tiles", "3", "--algo", "bsff",
                         "--json", "-").output)
    assert doc["tiles"] == 3 and list(doc["algorithms"]) == ["bsff"]


def test_counts_file_device(tmp_path):
    """The run's device prices its measured p-bit samples; --device overrides it."""
    path = write_counts(tmp_path, device="digital")
    doc = json.loads(run("--counts", str(path), "--json", "-").output)
    assert doc["device"]["spec"] == "digital"
    per_sample = (10 ** 12 * 0.9 + 10 ** 9 * 1.115415 + 10 ** 8 * 10 * 3 / 64
                  + 10 ** 11 * 5) / 120000
    assert doc["measured"]["train_per_sample_pj"] == pytest.approx(per_sample)
    assert doc["measured"]["train_split_pj"]["pbit"] == pytest.approx(10 ** 9 * 1.115415 / 120000)
    doc = json.loads(run("--counts", str(path), "--device", "smtj", "--json", "-").output)
    assert doc["device"]["spec"] == "smtj"
    assert doc["measured"]["train_split_pj"]["pbit"] == pytest.approx(10 ** 9 * 0.002 / 120000)


@pytest.mark.parametrize("args, message", [
    (["--tiles", "0"], "tiles"),
    (["--tiles", "x"], "tiles"),
    (["--density", "1.5"], "--density"),
    (["--density", "0"], "--density"),
    (["--density", "abc"], "--density"),
    (["--algo", "sgd"], "unknown algorithm 'sgd'"),
    (["--arch", "resnet50"], "unknown architecture 'resnet50'"),
    (["--arch", "/nonexistent/net.toml"], "cannot read architecture"),
    (["--table", "/nonexistent/t.toml"], "cannot read table"),
    (["--table", "nope"], "unknown table 'nope'"),
    (["--device", "quantum"], "unknown p-bit device 'quantum'"),
    (["--device", "digital:lut_width=40"], "lut_width must be in 1..32"),
    (["--device", "digital:nope=1"], "has no option 'nope'"),
    (["--device", "digital:clocks=x"], "clocks='x' is not a valid int"),
    (["--device", "digital:lut_depth=1024"], "lut_depth must be a power of two"),
    (["--device", "digital:rng=mt19937"], "rng must be one of"),
    (["--device", "digital:taps=31/3"], "LFSR taps"),
    (["--device", "smtj:stuck_rate=1.5"], "stuck_rate must be in [0, 1]"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--batch-size", "0"], "--batch-size must be >= 2"),
    (["--json", "-", "--csv", "-"], "both write to stdout"),
    (["--counts", "/nonexistent/c.json"], "cannot read counts file"),
    (["--no-such-option"], "no-such-option"),
])
def test_errors_are_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_bad_table_and_counts_files(tmp_path):
    table = tmp_path / "t.toml"
    table.write_text('name = "t"\n[compute.add_fp32]\nenergy = 1\nbits = 32\nsource = "x"\n')
    result = run("--table", str(table))
    assert result.exit_code == 2 and "compute.add_fp32.energy" in result.output
    for change, message in ((dict(format="x"), "format"), (dict(tiles=0), "tiles"),
                            (dict(counts={"bogus:fp32": 3}), "bogus:fp32"),
                            (dict(arch="nope"), "unknown architecture")):
        result = run("--counts", str(write_counts(tmp_path, **change)))
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and message in result.output
    for device, message in (("quantum", "unknown p-bit device 'quantum'"),
                            (7, "'device' must be a p-bit device spec")):
        result = run("--counts", str(write_counts(tmp_path, device=device)))
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "counts file" in lines[0] and message in lines[0]
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = run("--counts", str(broken))
    assert result.exit_code == 2 and "not JSON" in result.output


def test_estimate_imports_neither_torch_nor_numba():
    code = (
        "import sys\n"
        "from pbitsim.cli.main import cli\n"
        "try:\n"
        "    cli.main(['estimate', '--per-layer'], standalone_mode=False)\n"
        "    cli.main(['estimate', '--device', 'digital:rng=xoshiro128'],"
        " standalone_mode=False)\n"
        "finally:\n"
        "    sys.stderr.write(repr(sorted(m for m in ('torch', 'numba')"
        " if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "BSFF" in proc.stdout
    assert proc.stderr.strip() == "[]"


def test_the_shared_run_options_are_declared_once():
    """train, sweep and estimate take the run options they share from one declaration: the
    same flags, choices and help (estimate adds where its default comes from)."""
    from pbitsim.cli.runoptions import SHARED
    helps = {c: "".join(CliRunner().invoke(cli, [c, "--help"]).output.split())
             for c in ("train", "sweep", "estimate")}  # without the help's line wrapping
    shared = {"estimate": ("tiles", "batch_size", "estimator", "grad_quant", "update",
                           "schedule", "dfa_epochs", "device", "eval_samples",
                           "calibration_samples"),
              "sweep": ("epochs", "batch_size", "lr", "limit_train", "limit_test", "backend")}
    assert set(SHARED) == {n for names in shared.values() for n in names}
    for command, names in shared.items():
        for name in names:
            body = "".join(SHARED[name].help.split())[:60]
            assert body in helps["train"] and body in helps[command], (command, name)


def test_estimator_and_calibration_are_priced_as_given():
    """--estimator and --calibration-samples reach the estimate as estimate() takes them."""
    from pbitsim.estimator import estimate
    for args, kw in ((["--algo", "bsff", "--estimator", "straight-through"],
                      dict(algos=["bsff"], estimator="straight-through")),
                     (["--algo", "cwc", "--calibration-samples", "0"],
                      dict(algos=["cwc"], calibration_samples=0))):
        doc = json.loads(run(*args, "--json", "-").output)
        name = kw["algos"][0]
        expected = estimate(arch="cfse-cifar10", **kw).get(name).total_pj("train")
        default = estimate(arch="cfse-cifar10", algos=[name]).get(name).total_pj("train")
        got = doc["algorithms"][name]["train_per_sample_pj"]
        assert got == expected != default
