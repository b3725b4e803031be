"""``pbitsim estimate --counts RUN/counts.json`` on a fresh run: the measured counts price within
1% of the analytic estimate at the run's own measured statistics, for every algorithm.

The run records what the estimate needs to describe its step (batch, BGBSFF's quantizer and
update, sampled test passes, the tiles' estimator, the fraction of steps each block learned under
the freezing schedule, and the statistics of the counts every index layer read in training and
in the test pass); the estimate takes them from the file.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli

RUNS = [("cwc", []), ("bp", []), ("ff", []), ("bsff", ["--tiles", "3", "--eval-samples", "2"]),
        ("bgbsff", ["--tiles", "3", "--update", "shift"]),
        ("mf", ["--arch", "mf-mlp-2x1000", "--schedule", "online"]),
        # greedy holds out 10% for early stopping: 213 images leave 192 = 3 full batches
        ("mf", ["--arch", "mf-mlp-2x1000", "--schedule", "greedy", "--epochs", "2",
                "--limit-train", "213"]),
        ("bsmf", ["--arch", "mf-mlp-2x1000", "--schedule", "online", "--tiles", "3"]),
        # CaFo DFA-CE on p-bits (cafo-dfa --tiles = bscafo-dfa): one block epoch, then online
        ("cafo-dfa", ["--schedule", "online", "--dfa-epochs", "1", "--tiles", "3"])]


@pytest.mark.parametrize("algo, extra", RUNS, ids=[f"{a}-{i}" for i, (a, _) in enumerate(RUNS)])
def test_measured_prices_within_one_percent(algo, extra, mnist_dir, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, [
        "train", "--algo", algo, "--dataset", "mnist", "--data-dir", mnist_dir,
        "--limit-train", "192", "--limit-test", "64", "--batch-size", "64", "--out", str(out),
        *extra], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["estimate", "--counts", str(out / "counts.json"), "--json", "-"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)["measured"]
    exact = algo in ("cwc", "bp", "ff", "mf")
    tol = 1e-9 if exact else 0.01
    assert m["train_per_sample_pj"] == pytest.approx(m["analytic_train_per_sample_pj"], rel=tol)
    assert m["inference_pj"] == pytest.approx(m["analytic_inference_pj"], rel=tol)


def test_an_earlier_versions_tiled_cafo_counts_file(mnist_dir, tmp_path):
    """A counts file of ``cafo-dfa --tiles M`` from before the p-bit forms had names recorded
    ``algo: cafo-dfa`` with its tiles: the estimate reads it as ``bscafo-dfa``."""
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, [
        "train", "--algo", "bscafo-rand", "--dataset", "mnist", "--data-dir", mnist_dir,
        "--limit-train", "128", "--limit-test", "64", "--batch-size", "64", "--tiles", "2",
        "--arch", "examples/archs/small-sff.toml", "--schedule", "online", "--out",
        str(out)], catch_exceptions=False)  # a p-bit net: pre_norm, layer norms
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "counts.json").read_text())
    assert (doc["algo"], doc["tiles"]) == ("bscafo-rand", 2)
    runs = {}
    for name in ("bscafo-rand", "cafo-rand"):
        (out / "counts.json").write_text(json.dumps({**doc, "algo": name}))
        r = CliRunner().invoke(cli, ["estimate", "--counts", str(out / "counts.json"), "--arch",
                                     "examples/archs/small-sff.toml", "--json", "-"],
                               catch_exceptions=False)
        assert r.exit_code == 0, r.output
        runs[name] = json.loads(r.output)
    assert "bscafo-rand" in runs["cafo-rand"]["algorithms"]
    assert "cafo-rand" not in runs["cafo-rand"]["algorithms"]
    assert runs["cafo-rand"] == runs["bscafo-rand"]
