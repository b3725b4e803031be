"""`pbitsim sweep`: estimate-only outputs, errors, and a tiny trained sweep that resumes."""

import csv
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.estimator import hardware_summary
from pbitsim.hardware.devices import split_devices
from pbitsim.sweep import Point


def run(*args):
    return CliRunner().invoke(cli, ["sweep", *args])


def test_split_devices():
    assert split_devices("ideal,smtj:offset_sd=0.2,stuck_rate=0.01,digital") == [
        "ideal", "smtj:offset_sd=0.2,stuck_rate=0.01", "digital"]
    assert split_devices(" digital:lut_width=8 ,, ideal") == ["digital:lut_width=8", "ideal"]
    assert Point.of(device="smtj:offset_sd=0.2,stuck_rate=0.01", tiles=7, seed=1).key == \
        "smtj_offset_sd_0.2_stuck_rate_0.01-m7-s1"


def test_estimate_only_outputs(tmp_path):
    result = run("--estimate-only", "--tiles", "1,7", "--device", "ideal,digital:lut_width=8",
                 "--dataset", "cifar10", "--density", "0.1", "--out", str(tmp_path),
                 "--no-plots")
    assert result.exit_code == 0, result.output
    assert "analytic estimate" in result.output
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert [(r["device"], int(r["tiles"])) for r in rows] == [
        ("ideal", 1), ("ideal", 7), ("digital:lut_width=8", 1), ("digital:lut_width=8", 7)]
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["format"] == "pbitsim-sweep" and doc["mode"] == "estimate"
    for r in doc["rows"]:
        ref = hardware_summary("cfse-cifar10", "bsff", r["tiles"], device=r["device"],
                               density=0.1)
        assert r["n_pbits"] == ref["n_pbits"]
        assert r["energy_train_pj_per_sample"] == pytest.approx(
            ref["energy_train_pj_per_sample"])
        assert r["pbit_area_mm2"] == pytest.approx(ref["pbit_area_mm2"])
    # p-bits scale with M; the digital p-bit is far larger than the (ideal-priced) sMTJ one
    by = {(r["device"], r["tiles"]): r for r in doc["rows"]}
    assert by[("ideal", 7)]["n_pbits"] == 7 * by[("ideal", 1)]["n_pbits"]
    assert by[("digital:lut_width=8", 7)]["pbit_area_mm2"] > 100 * by[("ideal", 7)][
        "pbit_area_mm2"]


def test_estimate_only_arch(tmp_path):
    result = run("--estimate-only", "--tiles", "2", "--arch", "cwc-mnist", "--out",
                 str(tmp_path), "--no-plots")
    assert result.exit_code == 0, result.output
    (row,) = json.loads((tmp_path / "sweep.json").read_text())["rows"]
    assert row["arch"] == "cwc-mnist"
    assert row["n_pbits"] == hardware_summary("cwc-mnist", "bsff", 2)["n_pbits"]


def test_estimate_only_plot(tmp_path):
    pytest.importorskip("matplotlib")
    result = run("--estimate-only", "--tiles", "1,2,4", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    png = tmp_path / "energy_vs_tiles.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_estimate_only_does_not_import_torch(tmp_path):
    code = ("import sys; from pbitsim.cli.main import main\n"
            "try:\n    main(['sweep', '--estimate-only', '--no-plots', '--out', sys.argv[1]])\n"
            "except SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"


@pytest.mark.parametrize("args, message", [
    (["--tiles", "0,2"], "--tiles must be >= 1, got 0"),
    (["--tiles", "2,65"], "--tiles must be in 1..64, got 65"),
    (["--tiles", "a"], "--tiles must be comma-separated integers"),
    (["--device", "quantum"], "unknown p-bit device 'quantum'"),
    (["--device", "smtj:stuck_rate=3"], "stuck_rate"),
    (["--density", "0.2"], "--density applies to --estimate-only"),
    (["--estimate-only", "--density", "1.5"], "--density must be in (0, 1]"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--epochs", "x"], "Invalid value for '--epochs'"),
    (["--arch", "nope"], "--arch: unknown architecture 'nope'"),
    (["--algo", "bsff,nope"], "--algo: unknown value 'nope' (choose from"),
    (["--dataset", "mnist,svhn"], "--dataset: unknown value 'svhn'"),
    (["--seeds", ""], "--seeds is empty"),
    # every (data set, rule) of the grid is checked against the network before any work
    (["--algo", "bsff,mf", "--arch", "cfse-mnist"], "mf on cfse-mnist: conv1 is conv2d; Mono-Forward"),
    (["--estimate-only", "--algo", "cwc,ff", "--arch", "cfse-mnist"], "ff on cfse-mnist"),
    (["--dataset", "mnist,cifar10", "--arch", "cwc-mnist"],
     "--arch: architecture cwc-mnist takes 1x28x28 inputs, the cifar10 images are 3x32x32"),
    (["--scheduler", "foo"], "--scheduler must be local:N or a scheduler address"),
    (["--scheduler", "tcp://head"], "such as tcp://HOST:8786, got 'tcp://head'"),
    (["--scheduler", "local:0"], "--scheduler local:N needs N in 1..1024"),
    (["--scheduler", "local:2", "--jobs", "2"], "give --jobs or --scheduler, not both"),
    (["--estimate-only", "--scheduler", "local:2"], "--scheduler applies to trained sweeps"),
    (["--estimate-only", "--dataset", "cifar10", "--arch", "cwc-mnist"],
     "cwc-mnist takes 1x28x28 inputs, the cifar10 images are 3x32x32"),
])
def test_bad_input_is_one_line(args, message, tmp_path):
    result = run(*args, "--out", str(tmp_path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]


def test_trained_sweep_and_resume(tmp_path, mnist_dir):
    args = ["--tiles", "1,3", "--device", "smtj:offset_sd=0.3", "--seeds", "0,1", "--dataset",
            "mnist", "--data-dir", mnist_dir, "--limit-train", "128", "--limit-test", "64",
            "--batch-size", "64", "--epochs", "1", "--out", str(tmp_path), "--no-plots",
            "--arch", "cwc-mnist"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["mode"] == "train" and len(doc["runs"]) == 4 and len(doc["rows"]) == 2
    assert {r["arch"] for r in doc["runs"]} == {"cwc-mnist"}
    for row in doc["rows"]:
        assert row["seeds"] == [0, 1]
        assert row["energy_train_pj_per_sample"] > 0 and row["n_pbits"] > 0
        accs = [r["accuracy"] for r in doc["runs"]
                if (r["device"], r["tiles"]) == (row["device"], row["tiles"])]
        assert row["accuracy_mean"] == pytest.approx(sum(accs) / 2)
    for r in doc["runs"]:
        res = json.loads((tmp_path / r["run"] / "results.json").read_text())
        assert res["device"] == r["device"] and res["tiles"] == r["tiles"]
        assert res["accuracy"] == r["accuracy"]  # the rows' means are of the runs' own results
        assert res["arch"] == res["config"]["arch"] == "cwc-mnist"
    # a second run reads every finished configuration back instead of training it
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/results.json")}
    again = run(*args)
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert json.loads((tmp_path / "sweep.json").read_text())["rows"] == doc["rows"]


def test_scheduler_without_dask_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = run("--tiles", "1", "--scheduler", "local:2", "--out", str(tmp_path))
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line == ("Error: --scheduler needs Dask's distributed scheduler, which is not "
                    "installed: pip install 'pbitsim[cluster]'")
    assert not (tmp_path / "runs").exists()


def test_grid_axes():
    from pbitsim.sweep import SweepConfig
    cfg = SweepConfig(grid={"dataset": ("mnist", "cifar10"), "algo": ("cwc", "bsff"),
                            "tiles": (1, 7), "seed": (0, 1)})
    keys = [p.key for p in cfg.points()]
    # tiles and device do not apply to CwC-FF: its points appear once per seed; the default
    # data set and rule are left out of folder names (the folders of earlier sweeps)
    assert keys == ["cwc-s0", "cwc-s1", "ideal-m1-s0", "ideal-m1-s1", "ideal-m7-s0",
                    "ideal-m7-s1", "cifar10-cwc-s0", "cifar10-cwc-s1", "cifar10-ideal-m1-s0",
                    "cifar10-ideal-m1-s1", "cifar10-ideal-m7-s0", "cifar10-ideal-m7-s1"]
    point = cfg.points()[-1]
    assert (point.dataset, point.algo, point.device, point.tiles, point.seed) == (
        "cifar10", "bsff", "ideal", 7, 1)
    tc = cfg.train_config(point)
    assert (tc.dataset, tc.algo, tc.tiles, tc.seed, tc.arch) == (
        "cifar10", "bsff", 7, 1, "cfse-cifar10")
    assert cfg.points()[0].tiles is None and cfg.train_config(cfg.points()[0]).algo == "cwc"


def test_an_axis_is_one_declaration(monkeypatch):
    """A new axis (here the existing TrainConfig field eval_samples) is one Axis entry: the
    grid, the folder names, the training configuration and the CLI option follow from it."""
    import click
    import pbitsim.sweep.grid as sw
    from pbitsim.cli.sweep import _axis_options
    k = sw.Axis("eval_samples", "--eval-samples", "eval_samples",
                sw._int_values("--eval-samples", 1, 16), "1", lambda v: f"k{v}",
                "Sampled test passes.", label_default=False)
    monkeypatch.setattr(sw, "AXES", sw.AXES + (k,))
    monkeypatch.setattr(sw, "_BY_NAME", {a.name: a for a in sw.AXES})
    cfg = sw.SweepConfig(grid={"tiles": (7,), "eval_samples": (1, 2)})
    assert [p.key for p in cfg.points()] == ["ideal-m7-s0", "ideal-m7-s0-k2"]
    assert [cfg.train_config(p).eval_samples for p in cfg.points()] == [1, 2]
    assert cfg.meta()["eval_samples"] == [1, 2]
    options = [o for p in click.command()(_axis_options(lambda **kw: None)).params
               for o in p.opts]
    assert options == ["--dataset", "--algo", "--device", "--tiles", "-M", "--precision", "--seeds",
                       "--eval-samples"]


def test_estimate_only_rules(tmp_path):
    result = run("--estimate-only", "--algo", "bsff,cwc", "--tiles", "1,7", "--out",
                 str(tmp_path), "--no-plots")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "sweep.json").read_text())["rows"]
    assert [(r["algo"], r["tiles"], r["device"]) for r in rows] == [
        ("bsff", 1, "ideal"), ("bsff", 7, "ideal"), ("cwc", None, None)]
    assert rows[2]["n_pbits"] == 0 and rows[1]["n_pbits"] == 7 * rows[0]["n_pbits"]
    assert rows[2]["energy_train_pj_per_sample"] == pytest.approx(
        hardware_summary("cfse-mnist", "cwc", 7, density=0.15)["energy_train_pj_per_sample"])


def test_estimate_only_cafo_p_bit_form(tmp_path):
    """CaFo's p-bit form is a sweep point of its own: tiles apply to bscafo-dfa, and cafo-dfa
    (real-valued) appears once; each row is the estimate of that rule at that M."""
    result = run("--estimate-only", "--algo", "cafo-dfa,bscafo-dfa", "--tiles", "1,7", "--out",
                 str(tmp_path), "--no-plots")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "sweep.json").read_text())["rows"]
    assert [(r["algo"], r["tiles"], r["device"]) for r in rows] == [
        ("cafo-dfa", None, None), ("bscafo-dfa", 1, "ideal"), ("bscafo-dfa", 7, "ideal")]
    assert {r["arch"] for r in rows} == {"cafo-cnn-mnist"}  # the CaFo rules' default net
    assert rows[0]["n_pbits"] == 0 and rows[2]["n_pbits"] == 7 * rows[1]["n_pbits"] > 0
    for r in rows:
        want = hardware_summary("cafo-cnn-mnist", r["algo"], r["tiles"] or 7, density=0.15)
        assert r["energy_train_pj_per_sample"] == pytest.approx(
            want["energy_train_pj_per_sample"])
    assert rows[2]["energy_train_pj_per_sample"] != rows[0]["energy_train_pj_per_sample"]
    # the points a trained sweep runs: bscafo-dfa at each M, cafo-dfa once, on the CaFo net
    from pbitsim.sweep import SweepConfig
    cfg = SweepConfig(grid={"algo": ("cafo-dfa", "bscafo-dfa"), "tiles": (1, 7)})
    configs = [cfg.train_config(p) for p in cfg.points()]
    for tc in configs:
        tc = tc.validate()
    assert [(tc.algo, tc.tiles, tc.arch, tc.dfa_epochs) for tc in configs] == [
        ("cafo-dfa", None, "cafo-cnn-mnist", 5), ("bscafo-dfa", 1, "cafo-cnn-mnist", 5),
        ("bscafo-dfa", 7, "cafo-cnn-mnist", 5)]


def test_precision_axis(tmp_path):
    """--precision is one axis setting the three width fields; it prices each datapath as
    `estimate --weight-bits ...` does, and applies only to rules with a fixed-point form."""
    from pbitsim import sweep as sw
    from pbitsim.precision import make_precision
    result = run("--estimate-only", "--algo", "bsff,mf", "--arch", "mf-mlp-2x1000", "--tiles", "7",
                 "--precision", "fp32,w8,w4a16g4", "--out", str(tmp_path), "--no-plots")
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "sweep.json").read_text())["rows"]
    assert [(r["algo"], r["precision"]) for r in rows] == [
        ("bsff", "fp32"), ("bsff", "w8a32"), ("bsff", "w4a16g4"), ("mf", None)]
    for r in rows[:3]:
        want = hardware_summary("mf-mlp-2x1000", "bsff", 7, density=0.15,
                                precision=make_precision(*{"fp32": (None, None, None),
                                                           "w8a32": (8, 32, None),
                                                           "w4a16g4": (4, 16, 4)}[r["precision"]]))
        assert r["energy_train_pj_per_sample"] == pytest.approx(want["energy_train_pj_per_sample"])
    assert rows[1]["energy_train_pj_per_sample"] < rows[0]["energy_train_pj_per_sample"]
    cfg = sw.SweepConfig(grid={"tiles": (7,), "precision": ("fp32", "w8a16g8")})
    points = cfg.points()
    assert [p.key for p in points] == ["ideal-m7-s0", "ideal-m7-w8a16g8-s0"]  # fp32: old names
    tc = cfg.train_config(points[1])
    assert (tc.weight_bits, tc.acc_bits, tc.grad_bits) == (8, 16, 8)
    assert cfg.train_config(points[0]).weight_bits is None


@pytest.mark.parametrize("value", ["w8a4", "w65", "int8", ""])
def test_precision_axis_bad_values(tmp_path, value):
    result = run("--estimate-only", "--precision", value, "--out", str(tmp_path), "--no-plots")
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: --precision"), result.output


def test_parallel_jobs(tmp_path, monkeypatch, mnist_dir):
    for name in ("dask", "distributed"):  # --jobs needs no Dask
        monkeypatch.setitem(sys.modules, name, None)
    result = run("--tiles", "1,2", "--jobs", "2", "--dataset", "mnist", "--data-dir", mnist_dir,
                 "--arch", "cwc-mnist", "--limit-train", "64", "--limit-test", "32", "--batch-size", "32",
                 "--out", str(tmp_path), "--no-plots")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert sorted(r["tiles"] for r in doc["runs"]) == [1, 2]
    assert all((tmp_path / r["run"] / "results.json").is_file() for r in doc["runs"])


def test_one_row_builder_for_both_sweeps():
    """Estimate-only and trained rows come from one builder: the same columns in the same
    order (the trained row's energies replaced by its priced counts), and aggregate() keeps a
    column it does not know (a new one) -- so a column is added in one place."""
    from pbitsim.sweep import SweepConfig, aggregate, price_row
    cfg = SweepConfig(grid={"tiles": (7,), "device": ("smtj",)})
    (point,) = cfg.points()
    est = price_row(cfg, point, 0.2)
    doc = {"counts": {}, "inference_counts": {}, "train_samples": 4, "epochs": 1,
           "test_samples": 2, "activation_density": 0.25}
    run_row = price_row(cfg, point, 0.2, (doc, {"accuracy": 0.5, "train_wall_s": 1.5}))
    assert list(est) == [*list(run_row)[:len(est) - 1], "density"] and est["density"] == 0.2
    assert list(run_row)[len(est) - 1:] == ["seed", "accuracy", "activation_density",
                                           "train_wall_s", "run"]
    same = ("arch", "table", "pbit_energy_share", "n_pbits", "pbit_area_mm2")
    assert {k: run_row[k] for k in same} == {k: est[k] for k in same}
    assert est["energy_train_pj_per_sample"] > 0 and run_row["energy_train_pj_per_sample"] == 0
    runs = [{**run_row, "seed": s, "accuracy": a, "new_nj": n, "same": "x"}
            for s, a, n in ((0, 0.5, 1.0), (1, 0.7, 3.0))]
    (row,) = aggregate(runs)
    assert row["seeds"] == [0, 1] and row["accuracy_mean"] == pytest.approx(0.6)
    assert (row["new_nj"], row["same"]) == (2.0, "x") and list(row)[-2:] == ["new_nj", "same"]


def test_estimate_only_rows_price_the_sweeps_budget():
    """An estimate-only row is priced at the sweep's batch, epochs and training subset (they
    were ignored: every row was priced at batch 128), as estimate() prices them."""
    from pbitsim.estimator import estimate
    from pbitsim.sweep import SweepConfig, price_row
    for budget in (dict(batch_size=32), dict(epochs=3, limit_train=5000),
                   dict(limit_train=10 ** 6)):
        cfg = SweepConfig(grid={"tiles": (3,)}, **budget)
        (point,) = cfg.points()
        row = price_row(cfg, point, 0.2)
        want = estimate(arch="cfse-mnist", algos=["bsff"], tiles=3, density=0.2,
                        batch_size=budget.get("batch_size", 128),
                        epochs=budget.get("epochs", 1),
                        train_samples=min(budget.get("limit_train", 60000), 60000))
        assert row["energy_train_pj_per_sample"] == want.get("bsff").total_pj("train"), budget
    default = price_row(SweepConfig(grid={"tiles": (3,)}), point, 0.2)
    assert price_row(SweepConfig(grid={"tiles": (3,)}, batch_size=32), point, 0.2)[
        "energy_train_pj_per_sample"] != default["energy_train_pj_per_sample"]
