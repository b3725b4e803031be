"""``--backend`` of ``pbitsim train`` and ``pbitsim sweep``: recorded, and bad values refused."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli

@pytest.mark.parametrize("command", ["train", "sweep"])
def test_bad_backend_is_one_error_line(command):
    r = CliRunner().invoke(cli, [command, "--backend", "gpu"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "gpu" in lines[0]


def test_train_records_the_backend(tmp_path, mnist_dir):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "--algo", "bsff", "--tiles", "2", "--data-dir",
                                 mnist_dir, "--limit-train", "64", "--limit-test", "32",
                                 "--batch-size", "32", "--backend", "index", "--out", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert json.loads((out / "results.json").read_text())["config"]["backend"] == "index"
