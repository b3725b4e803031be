"""``pbitsim train`` end to end: files, one-line errors, Ctrl-C then --resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "archs"
def _invoke(*args):
    return CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)


def test_train_writes_results_and_counts(mnist_dir, tmp_path):
    out = tmp_path / "run"
    r = _invoke("--algo", "bsff", "--tiles", "3", "--dataset", "mnist", "--data-dir", mnist_dir,
                "--limit-train", "64", "--limit-test", "32", "--batch-size", "32", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "test accuracy (sf)" in r.output and "activation density" in r.output
    res = json.loads((out / "results.json").read_text())
    assert res["algo"] == "bsff" and res["tiles"] == 3 and res["epochs"] == 1
    counts = json.loads((out / "counts.json").read_text())
    assert counts["format"] == "pbitsim-counts" and counts["counts"]["pbit_sample"] > 0
    assert (out / "checkpoint.pt").is_file()
    # the same folder again without --resume is refused; with --resume it reports again
    r = _invoke("--algo", "bsff", "--tiles", "3", "--data-dir", mnist_dir, "--limit-train", "64",
                "--limit-test", "32", "--batch-size", "32", "--out", str(out))
    assert r.exit_code == 2 and "--resume" in r.output
    r = _invoke("--algo", "bsff", "--tiles", "4", "--data-dir", mnist_dir, "--limit-train", "64",
                "--limit-test", "32", "--batch-size", "32", "--out", str(out), "--resume")
    assert r.exit_code == 2 and "tiles=3" in r.output


@pytest.mark.parametrize("args, msg", [
    (["--tiles", "0"], "--tiles must be >= 1"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--limit-train", "1"], "--limit-train must be >= 2"),
    (["--data-dir", "/nonexistent/pbitsim-data"], "does not exist"),
    (["--algo", "ff", "--arch", "cfse-mnist"], "conv1 is conv2d; Hinton's FF"),
    (["--algo", "bp", "--arch", "mlp"], "--arch: unknown architecture 'mlp'"),
    (["--arch", "/nonexistent/net.toml"], "cannot read architecture"),
    (["--arch", str(EXAMPLES / "small-convnet.toml")], "takes 3x32x32 inputs"),
    (["--algo", "cwc", "--arch", str(EXAMPLES / "my-mlp.toml"), "--schedule", "reference"],
     "--schedule reference needs a net of 4 blocks"),
    (["--schedule", "weekly"], "Invalid value for '--schedule'"),
    (["--device", "bogus"], "unknown p-bit device 'bogus'"),
    (["--algo", "cwc", "--eval-samples", "4"], "--eval-samples applies to bsff/bgbsff"),
    (["--eval-samples", "0"], "--eval-samples must be >= 1"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, msg):
    r = _invoke(*args, "--out", str(tmp_path / "x"))
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and msg in lines[0]


def test_class_groups_rule_names_the_layer(tmp_path):
    net = tmp_path / "net.toml"
    net.write_text('name = "net"\ninput = [1, 28, 28]\nclasses = 10\n'
                   '[[layers]]\ntype = "conv2d"\nchannels = 30\n'
                   '[[layers]]\ntype = "conv2d"\nchannels = 32\n')
    r = _invoke("--algo", "bgbsff", "--arch", str(net), "--out", str(tmp_path / "x"))
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert r.output.startswith("Error: --arch: bgbsff on net: conv2 has 32 channels, not "
                               "divisible by the 10 classes")
    r = _invoke("--algo", "bp", "--arch", str(net), "--data-dir", "/nonexistent/pbitsim-data",
                "--out", str(tmp_path / "x"))
    assert r.exit_code == 2 and "does not exist" in r.output  # bp has no class groups


def test_ctrl_c_saves_and_resume_finishes(mnist_dir, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "pbitsim", "train", "--algo", "cwc", "--data-dir", mnist_dir,
            "--limit-train", "64", "--limit-test", "32", "--batch-size", "32", "--epochs", "6",
            "--arch", "cwc-mnist", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt = out / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert ckpt.exists(), "no checkpoint after the first epoch"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "checkpoint saved" in output and not (out / "results.json").exists()
    assert "Traceback" not in output
    # resume with the same options finishes where it left off
    r = subprocess.run(args + ["--resume"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert [h["epoch"] for h in res["history"]] == list(range(1, 7))
