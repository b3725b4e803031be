"""Helpers of the adversarial suite (see conftest.py): the CLI in and out of process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from pbitsim.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]

# a small cwc run (no p-bit kernels to compile: a subprocess starts in seconds)
SMALL = ("--algo", "cwc", "--limit-train", "64", "--limit-test", "32", "--batch-size", "32")


def invoke(*args):
    """Run ``pbitsim ARGS`` in this process; the result has ``stdout`` and ``stderr``."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_error_line(result, *needles) -> str:
    """Assert exit status 2 and exactly one ``Error:`` line holding every needle."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def pbitsim_cmd(*args) -> list[str]:
    """``python -m pbitsim ARGS`` in a subprocess that imports this checkout."""
    return [sys.executable, "-m", "pbitsim", *map(str, args)]


def subprocess_env() -> dict:
    """The environment of a subprocess that imports the pbitsim this process imported."""
    import pbitsim
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(pbitsim.__file__).parents[1]),
                                                       env.get("PYTHONPATH")]))
    return env


def run_pbitsim(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(pbitsim_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=subprocess_env(), cwd=ROOT)
