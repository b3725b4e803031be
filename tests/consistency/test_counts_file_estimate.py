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
        ("bgbsff", ["--tiles", "3", "--update", "shift"])]


@pytest.mark.parametrize("algo, extra", RUNS)
def test_measured_prices_within_one_percent(algo, extra, mnist_dir, tmp_path):
    out = tmp_path / algo
    r = CliRunner().invoke(cli, [
        "train", "--algo", algo, "--dataset", "mnist", "--data-dir", mnist_dir,
        "--limit-train", "192", "--limit-test", "64", "--batch-size", "64", "--out", str(out),
        *extra], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["estimate", "--counts", str(out / "counts.json"), "--json", "-"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)["measured"]
    exact = algo in ("cwc", "bp", "ff")
    tol = 1e-9 if exact else 0.01
    assert m["train_per_sample_pj"] == pytest.approx(m["analytic_train_per_sample_pj"], rel=tol)
    assert m["inference_pj"] == pytest.approx(m["analytic_inference_pj"], rel=tol)
