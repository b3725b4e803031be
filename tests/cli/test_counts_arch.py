"""``estimate --counts`` of a run on a user architecture file: found from any working directory
(by its recorded absolute path, or beside the counts file by its sha256); a moved, changed or
overriding architecture is one ``Error:`` line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from click.testing import CliRunner

from pbitsim.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "archs"


def _invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_counts_of_a_user_arch_run(mnist_dir, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(EXAMPLES / "my-mlp.toml", work / "net.toml")
    monkeypatch.chdir(work)
    r = _invoke("train", "--algo", "cwc", "--arch", "net.toml", "--data-dir", mnist_dir,
                "--limit-train", "128", "--batch-size", "64", "--limit-test", "32", "--out", "run")
    assert r.exit_code == 0, r.output
    counts = work / "run" / "counts.json"
    doc = json.loads(counts.read_text())
    assert doc["arch_file"] == str((work / "net.toml").resolve())

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another working directory
    r = _invoke("estimate", "--counts", str(counts), "--json", "-")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["arch"] == "my-mlp"
    m = out["measured"]  # a real-valued rule: measured equals analytic
    assert abs(m["train_per_sample_pj"] / m["analytic_train_per_sample_pj"] - 1) < 1e-9

    # the run's folder with the file beside its counts, the original gone: found by hash
    shutil.move(str(work / "net.toml"), str(work / "run" / "net.toml"))
    assert _invoke("estimate", "--counts", str(counts)).exit_code == 0

    def one_error(*args, words=()):
        r = _invoke("estimate", "--counts", str(counts), *args)
        assert r.exit_code == 2, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
        for w in words:
            assert w in lines[0], (w, lines[0])

    with open(work / "run" / "net.toml", "a") as f:  # changed since the run
        f.write("\n# edited\n")
    one_error(words=("changed since the run", "--arch"))
    os.remove(work / "run" / "net.toml")  # gone
    one_error(words=("not there", "--arch", doc["arch_sha256"][:12]))
    # another network would take the run's per-layer statistics: refused
    one_error("--arch", "cfse-mnist", words=("is not that file",))
