"""Mono-Forward's estimator: hand-worked counts on a tiny net, the greedy recompute, the seeds'
forward MACs, the schedules' costs and one-line errors."""

from __future__ import annotations

from pbitsim.rulebook import rule
import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.estimator import estimate
from pbitsim.estimator.algorithms import ModelParams, get_algorithm
from pbitsim.network.archs import load_arch

TINY = """name = "tiny-mlp"
input = [1, 2, 2]
classes = 2
train_samples = 100
[[layers]]
type = "dense"
units = 3
[[layers]]
type = "dense"
units = 3
"""
B = 2


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return load_arch(path)


def _phase(rows, phase, key):
    return sum(r.phases[phase].get(key, 0.0) for r in rows)


def test_tiny_net_counts_by_hand(tiny):
    """4 -> 3 -> 3 with projections 3 -> 2 (no bias), batch 2."""
    mf = get_algorithm("mf")
    p = ModelParams(batch_size=B)
    online = mf.stage_step(tiny, p, None)
    # forward multiplies: W1 4x3 = 12, M1 3x2 = 6, W2 3x3 = 9, M2 3x2 = 6 per sample
    assert _phase(online, "forward", "mul:fp32") == B * (12 + 6 + 9 + 6)
    # ReLU masks kept for both layers (3 + 3 per sample), one compare per unit
    assert _phase(online, "forward", "act_write:u1") == B * 6
    # backward: dL/da_i = g M_i (6 multiplies per layer), nothing crosses layers
    assert _phase(online, "backward", "mul:fp32") == B * (6 + 6)
    # weight gradients: dW1 12 + dM1 6, dW2 9 + dM2 6 multiplies
    assert _phase(online, "weight_grad", "mul:fp32") == B * (12 + 6 + 9 + 6)
    # Adam over W1 b1 M1 (12 + 3 + 6) and W2 b2 M2 (9 + 3 + 6), once per step
    adam_muls = 5 + 4 + 1
    assert _phase(online, "update", "mul:fp32") == adam_muls * (21 + 18)
    # greedy stage 1 (layer 2 learns): layer 1 recomputed without masks, M1 not run
    s1 = mf.stage_step(tiny, p, 1)
    assert _phase(s1, "forward", "mul:fp32") == B * (12 + 9 + 6)
    assert _phase(s1, "forward", "act_write:u1") == B * 3
    assert _phase(s1, "update", "mul:fp32") == adam_muls * 18
    # greedy stage 0: layer 2 does not run at all
    s0 = mf.stage_step(tiny, p, 0)
    assert _phase(s0, "forward", "mul:fp32") == B * (12 + 6)
    assert s0[1].total() == {}
    # inference: both layers, the last projection, an argmax (1 compare over 2 classes)
    inf = mf.inference_step(tiny, p)
    assert _phase(inf, "forward", "mul:fp32") == B * (12 + 9 + 6)
    assert _phase(inf, "forward", "cmp:fp32") == B * (3 + 3 + 1)


def test_greedy_versus_online_forward_ratio(tiny):
    """Equal epochs per layer: greedy forward MACs / online = (18 + 27) / (2 x 33)."""
    mf = get_algorithm("mf")
    online = mf.training_step(tiny, ModelParams(batch_size=B))
    greedy = mf.training_step(tiny, ModelParams(batch_size=B, layer_epochs=(5, 5)))
    # a greedy step is the run's mean: (stage 0 + stage 1) / 2; a run has 2 x 5 epochs
    ratio = (_phase(greedy, "forward", "mul:fp32") * 10) / (_phase(online, "forward", "mul:fp32")
                                                            * 5)
    assert ratio == pytest.approx((18 + 27) / 33)
    est = estimate(tiny, ["mf"], schedule="greedy", layer_epochs=[5, 5], epochs=5)
    sched = est.schedules("mf")
    assert sched["greedy_run_pj"] == pytest.approx(
        est.get("mf").total_pj("train") * 100 * 10)
    assert est.run_epochs("mf") == 10
    # on the 2 x 1000 MLP greedy costs more than online for the same epochs per layer: the
    # recompute of layer 1 outweighs running one layer instead of two per stage
    big = estimate("mf-mlp-2x1000", ["mf"], schedule="greedy", layer_epochs=[14, 14], epochs=14)
    assert 1.0 < big.schedules("mf")["greedy_over_online_same_layer_epochs"] < 1.2


@pytest.mark.parametrize("arch, macs", [("mf-mlp-2x1000", 1_794_000),
                                        ("mf-mlp-3x2000", 14_164_000)])
def test_forward_macs_equal_the_seeds(arch, macs):
    """The seeds' forward MACs per sample (hidden layers + one 10-class projection/head)."""
    net = load_arch(arch)
    assert sum(b.linear.taps for b in net.blocks) + net.head.taps == macs
    inf = estimate(arch, ["mf"]).get("mf").counts["inference"]
    assert inf["mul:fp32"] == pytest.approx(macs)  # MF's inference: exactly these products
    bp = estimate(arch, ["bp"]).get("bp").counts["inference"]
    assert bp["mul:fp32"] == pytest.approx(macs)


def test_mf_parameters():
    """Layers + one projection per layer; the seeds report 1.82 M for MNIST with a 10-class
    head (1,806,000 + 10,010 = 1.816 M)."""
    mf = get_algorithm("mf")
    net = load_arch("mf-mlp-2x1000")
    assert mf.params_count(net) == 785_000 + 1_001_000 + 2 * 10_000
    assert round((mf.params_count(net) + net.head.params) / 1e6, 2) == 1.82


@pytest.mark.parametrize("args, message", [
    (["--algo", "mf", "--arch", "cwc-mnist"], "Mono-Forward is modelled on dense"),
    (["--algo", "mf", "--arch", "mf-mlp-2x1000", "--schedule", "greedy", "--layer-epochs",
      "1,2,3"], "3 value(s) for the 2 layers"),
    (["--algo", "mf", "--arch", "mf-mlp-2x1000", "--layer-epochs", "x"], "comma-separated"),
    (["--algo", "mf", "--arch", "mf-mlp-2x1000", "--schedule", "online", "--layer-epochs", "2,2"],
     "greedy schedule"),
])
def test_estimate_errors_are_one_line(args, message):
    r = CliRunner().invoke(cli, ["estimate", *args])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:"), r.output
    assert message in lines[0]


@pytest.mark.parametrize("args, message", [
    (["--arch", "cwc-mnist"], "Mono-Forward is modelled on dense"),
    (["--arch", "mf-mlp-2x1000", "--schedule", "staggered"], "mf has the schedules"),
])
def test_train_errors_are_one_line(args, message, tmp_path):
    r = CliRunner().invoke(cli, ["train", "--algo", "mf", "--out", str(tmp_path / "o"), *args])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:"), r.output
    assert message in lines[0]


def test_estimate_prints_both_schedules_and_the_seeds():
    r = CliRunner().invoke(cli, ["estimate", "--algo", "bp,mf", "--arch", "mf-mlp-2x1000",
                                 "--schedule", "greedy", "--layer-epochs", "14,14"])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "MF schedules" in out and "the seeds measured greedy" in out
    assert "mnist 0.6/0.69 Wh = 0.87x" in out and "3.2x more" in out


@pytest.mark.parametrize("name, seeds_m, input_dim, hidden", [
    ("mf-mlp-2x1000", 1.82, 784, [1000, 1000]),
    ("mf-mlp-3x2000", 14.26, 3072, [2000, 2000, 2000])])
def test_parameter_counts_against_the_seeds(name, seeds_m, input_dim, hidden):
    """pbitsim's MF: the layers and one projection per hidden layer (3x2000: 14.21 M). The
    seeds' 14.26 M (1.82 M) counts the reference code's MF_MLP module, which also holds a
    projection M_0 of the input a_0 (input_dim x classes) and a BP-style output layer (last
    hidden -> classes, with bias): 50,730 more on 3x2000."""
    net, classes = load_arch(name), 10
    layers = sum(b.linear.params for b in net.blocks)
    ours = get_algorithm("mf").params_count(net)
    assert ours == layers + classes * sum(hidden)
    reference = layers + classes * (input_dim + sum(hidden)) + hidden[-1] * classes + classes
    assert round(reference / 1e6, 2) == seeds_m
    if name == "mf-mlp-3x2000":
        assert ours == 14_210_000 and reference - ours == 50_730


def test_default_net_is_the_seeds_mlp():
    """`pbitsim train --algo mf` (and bsmf) without --arch trains the seeds' MF MLP of the data
    set's input size."""
    from pbitsim.network.archs import default_arch
    assert default_arch((1, 28, 28), rule("mf").net) == default_arch((1, 28, 28), rule("bsmf").net) == "mf-mlp-2x1000"
    assert default_arch((3, 32, 32), rule("mf").net) == "mf-mlp-3x2000"
    assert default_arch((1, 28, 28), rule("cwc").net) == "cfse-mnist"
