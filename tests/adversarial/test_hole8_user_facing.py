"""Hole 8: what a user reads. Tables on stdout, progress on stderr (one line per epoch when
stderr is not a terminal: see test_hole5's uninterrupted run), the first Ctrl-C acknowledged at
once (test_hole5), hints that name the CLI, a user's table labelled by its file, a README that
agrees with the tool."""

from __future__ import annotations

import json
import re
import shutil
import sys


from adv_helpers import ROOT, invoke

from pbitsim.hardware.tables import TABLE_DIR


def test_train_summary_on_stdout_progress_on_stderr(mnist_dir, tmp_path):
    r = invoke("train", "--algo", "cwc", "--data-dir", mnist_dir, "--limit-train", "64",
               "--limit-test", "32", "--batch-size", "32", "--epochs", "2",
               "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert "test accuracy (sf)" in r.stdout and "results:" in r.stdout
    assert "test accuracy" not in r.stderr
    epochs = [line for line in r.stderr.splitlines() if ": loss" in line]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]


def test_sweep_table_on_stdout(tmp_path):
    r = invoke("sweep", "--estimate-only", "--tiles", "1,2", "--out", tmp_path, "--no-plots")
    assert r.exit_code == 0
    assert "p-bit area" in r.stdout and r.stderr == ""


def test_no_data_hint_names_the_cli_flag(tmp_path):
    r = invoke("train", "--algo", "cwc", "--data-dir", tmp_path, "--out", tmp_path / "run")
    assert r.exit_code == 2 and "--download" in r.output


def test_plot_hint_keeps_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    r = invoke("sweep", "--estimate-only", "--tiles", "1", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert "pip install 'pbitsim[plot]'" in r.output


def test_edited_table_copy_is_labelled_by_its_file(tmp_path):
    copy = tmp_path / "my-table.toml"
    shutil.copy(TABLE_DIR / "horowitz-45nm.toml", copy)
    r = invoke("estimate", "--table", copy, "--json", "-")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["table"] == str(copy)
    shipped = invoke("estimate", "--table", "horowitz-45nm", "--json", "-")
    assert json.loads(shipped.stdout)["table"] == "horowitz-45nm"


def test_readme_devices_table_agrees_with_the_tool():
    from pbitsim.cli.units import format_energy
    from pbitsim.estimator import estimate
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(ideal|smtj|digital)`.*\| ([\d.]+ [um]J) \|$", readme, re.M)
    assert [kind for kind, _ in rows] == ["ideal", "smtj", "digital"]
    for kind, printed in rows:
        pj = estimate(algos=["bsff"], device=kind).get("bsff").total_pj("train")
        assert format_energy(pj) == printed, kind


def test_readme_says_where_the_test_data_is():
    readme = (ROOT / "README.md").read_text()
    assert "../shared/data" in readme and "PBITSIM_TEST_DATA" in readme
