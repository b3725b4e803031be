"""CaFo's estimator: hand-worked counts on a tiny net, the greedy recompute on the seeds' CNN,
the block stage in the schedules, the p-bit form, and one-line errors (estimate and train)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.estimator import estimate
from pbitsim.estimator.algorithms import ModelParams, get_algorithm
from pbitsim.network.archs import load_arch

TINY = """name = "tiny-cafo-mlp"
input = [1, 2, 2]
classes = 2
train_samples = 100
[[layers]]
type = "dense"
units = 3
[[layers]]
type = "dense"
units = 2
"""
# A p-bit net pools the tile counts before its batch norm: this one cannot run tiled.
NORM_THEN_POOL = """name = "norm-then-pool"
input = [1, 28, 28]
classes = 10
[[layers]]
type = "conv2d"
channels = 10
kernel = 3
padding = 1
[[layers]]
type = "batchnorm"
[[layers]]
type = "pool"
size = 2
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return load_arch(path)


def _phase(rows, phase, key):
    return sum(r.phases[phase].get(key, 0.0) for r in rows)


def test_tiny_net_counts_by_hand(tiny):
    """4 -> 3 -> 2, predictors 3 -> 2 and 2 -> 2 with bias, batch 1."""
    model, p = get_algorithm("cafo-dfa"), ModelParams(batch_size=1)
    st = {s: model.stage_step(tiny, p, s) for s in ("dfa", 0, 1, None)}
    # forward multiplies: block 1 4x3 = 12, block 2 3x2 = 6, P1 3x2 = 6, P2 = aux 2x2 = 4
    assert _phase(st[0], "forward", "mul:fp32") == 12 + 6
    assert _phase(st[1], "forward", "mul:fp32") == 12 + 6 + 4  # block 1 recomputed
    assert _phase(st[None], "forward", "mul:fp32") == 12 + 6 + 6 + 4
    assert _phase(st["dfa"], "forward", "mul:fp32") == 12 + 6 + 4  # the auxiliary head
    # weight gradients: the learning predictor(s); DFA: both blocks and the head
    assert _phase(st[0], "weight_grad", "mul:fp32") == 6
    assert _phase(st[1], "weight_grad", "mul:fp32") == 4
    assert _phase(st[None], "weight_grad", "mul:fp32") == 10
    assert _phase(st["dfa"], "weight_grad", "mul:fp32") == 12 + 6 + 4
    # DFA's backward: e B_1 (2 x 3) and the head's e W^T (2 x 2); ReLU selects, no multiply;
    # predictor stages have no backward at all
    assert _phase(st["dfa"], "backward", "mul:fp32") == 6 + 4
    assert _phase(st["dfa"], "backward", "weight_read:fp32") == 6 + 4  # B_1 and W read per MAC
    assert _phase(st[0], "backward", "mul:fp32") == 0 == _phase(st[None], "backward", "add:fp32")
    # Adam state (2 words per parameter): P1 3x2+2, P2 2x2+2; DFA 4x3+3, 3x2+2 and the head 6
    assert _phase(st[0], "update", "state_write:fp32") == 2 * 8
    assert _phase(st[1], "update", "state_write:fp32") == 2 * 6
    assert _phase(st[None], "update", "state_write:fp32") == 2 * 14
    assert _phase(st["dfa"], "update", "state_write:fp32") == 2 * (15 + 8 + 6)
    # frozen blocks keep no ReLU masks; the DFA stage keeps both blocks'
    assert _phase(st[None], "forward", "act_write:u1") == 0
    assert _phase(st["dfa"], "forward", "act_write:u1") == 3 + 2
    # one softmax CE per learning predictor
    assert _phase(st[None], "loss", "mul:fp32") == 2 * _phase(st[0], "loss", "mul:fp32") > 0
    inf = model.inference_step(tiny, p)
    assert _phase(inf, "forward", "mul:fp32") == 28
    assert _phase(inf, "forward", "cmp:fp32") == 3 + 2 + 1  # ReLUs, argmax of 2
    # logits summed: 2 adds; biases: 3 + 2 + 2 + 2; products: 12 + 6 + 6 + 4
    assert _phase(inf, "forward", "add:fp32") == 28 + 9 + 2
    assert get_algorithm("cafo-rand").params_count(tiny) == 8 + 6
    assert model.params_count(tiny) == 15 + 8 + 6 + 8 + 6


def test_greedy_recompute_on_the_seeds_cnn():
    """Per epoch, greedy stage k runs blocks 1..k: forward MACs 3 m1 + 2 m2 + m3 against
    online's m1 + m2 + m3 (in-image taps of 3x3 convs with padding 1: 82^2, 40^2, 19^2 per
    channel pair), plus the predictors; every frozen batch norm is one multiply per value."""
    net = load_arch("cafo-cnn-mnist")
    m = (32 * 82 * 82, 32 * 128 * 40 * 40, 128 * 512 * 19 * 19)
    assert sum(m) == 30_427_264
    bn = (32 * 14 * 14, 128 * 7 * 7, 512 * 3 * 3)
    pred = tuple(10 * v for v in bn)  # Linear(flat_i, 10)
    model, p = get_algorithm("cafo-rand"), ModelParams(batch_size=1)
    stages = [_phase(model.stage_step(net, p, k), "forward", "mul:fp32") for k in range(3)]
    assert stages == [sum(m[:k + 1]) + sum(bn[:k + 1]) + pred[k] for k in range(3)]
    online = _phase(model.stage_step(net, p, None), "forward", "mul:fp32")
    assert online == sum(m) + sum(bn) + sum(pred)
    assert sum(stages) / online == pytest.approx(
        (3 * m[0] + 2 * m[1] + m[2] + 3 * bn[0] + 2 * bn[1] + bn[2] + sum(pred))
        / (sum(m) + sum(bn) + sum(pred)), rel=1e-12)
    assert 1.22 < sum(stages) / online < 1.24  # the recompute costs 23% more forward work


def test_schedules_price_the_block_stage_and_runs():
    res = estimate("cafo-cnn-mnist", ["cafo-rand", "cafo-dfa"], schedule="greedy",
                   layer_epochs=[2, 3, 4], epochs=5)
    rand, dfa = res.schedules("cafo-rand"), res.schedules("cafo-dfa")
    n = 60000
    assert rand["block_stage_epochs"] == 0 and dfa["block_stage_epochs"] == 5  # the seeds'
    assert rand["greedy_stage_per_sample_pj"] == dfa["greedy_stage_per_sample_pj"]
    greedy = sum(e * s * n for e, s in zip((2, 3, 4), rand["greedy_stage_per_sample_pj"]))
    assert rand["greedy_run_pj"] == pytest.approx(greedy)
    block = dfa["block_stage_per_sample_pj"] * n * 5
    assert dfa["greedy_run_pj"] == pytest.approx(block + greedy)
    assert dfa["online_run_pj"] == pytest.approx(block + 5 * n * dfa["online_per_sample_pj"])
    assert res.run_epochs("cafo-dfa") == 5 + 9 and res.run_epochs("cafo-rand") == 9
    # the DFA block step costs more than an online predictor step (blocks learn)
    assert dfa["block_stage_per_sample_pj"] > dfa["online_per_sample_pj"]
    assert estimate("cafo-cnn-cifar10", ["cafo-dfa"]).schedules("cafo-dfa")[
        "block_stage_epochs"] == 250
    assert estimate("cafo-cnn-mnist", ["cafo-dfa"], dfa_epochs=0).schedules("cafo-dfa")[
        "block_stage_epochs"] == 0


def test_the_p_bit_form_is_a_rule_of_its_own():
    real = estimate("cafo-cnn-mnist", ["cafo-dfa"])
    tiled = estimate("cafo-cnn-mnist", ["bscafo-dfa"], tiles=7)
    assert not real.algos[0].algorithm.tiled and real.algos[0].n_pbits == 0
    a = tiled.algos[0]
    assert a.algorithm.tiled and a.name == "bscafo-dfa"
    assert not a.algorithm.fixed_point
    # one p-bit per unit and tile, units before pooling: 32x28x28 + 128x14x14 + 512x7x7
    assert a.n_pbits == 7 * (32 * 784 + 128 * 196 + 512 * 49)
    assert a.counts["inference"]["pbit_sample"] == a.n_pbits
    assert real.algos[0].counts["inference"].get("pbit_sample", 0) == 0
    # the tiled predictors index-and-accumulate: fewer multiplies at inference
    assert a.counts["inference"]["mul:fp32"] < real.algos[0].counts["inference"]["mul:fp32"]


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def _one_error_line(result):
    assert result.exit_code == 2, result.output
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_estimate_json_and_table():
    r = _run("estimate", "--algo", "bp,cafo-rand,cafo-dfa", "--arch", "cafo-cnn-mnist",
             "--schedule", "greedy", "--layer-epochs", "2,2,2", "--dfa-epochs", "3")
    assert r.exit_code == 0, r.output
    for text in ("CaFo Rand-CE schedules", "CaFo DFA-CE schedules", "blocks (DFA)",
                 "predictor 3 (3 block(s) recomputed)", "not given in numbers"):
        assert text in r.output, text
    doc = json.loads(_run("estimate", "--algo", "cafo-dfa", "--arch", "cafo-cnn-mnist",
                          "--tiles", "7", "--json", "-").output)
    assert list(doc["algorithms"]) == ["bscafo-dfa"]  # --tiles: the p-bit form
    algo = doc["algorithms"]["bscafo-dfa"]
    assert algo["n_pbits"] > 0 and algo["run_epochs"] == 5 + 1
    assert algo["schedules"]["block_stage_epochs"] == 5


@pytest.mark.parametrize("real", ["cafo-rand", "cafo-dfa"])
def test_tiles_select_the_named_p_bit_form(real):
    """``--algo cafo-X --tiles M`` prints what ``--algo bscafo-X --tiles M`` prints, line for
    line, and ``bscafo-X`` alone takes M = 7; the greedy tables of both forms name stages."""
    args = ("--arch", "cafo-cnn-mnist", "--schedule", "greedy", "--layer-epochs", "1,2,1")
    via_tiles = _run("estimate", "--algo", f"{real},bp", "--tiles", "7", *args)
    named = _run("estimate", "--algo", f"bs{real},bp", "--tiles", "7", *args)
    default_m = _run("estimate", "--algo", f"bs{real},bp", *args)
    assert via_tiles.exit_code == 0, via_tiles.output
    assert via_tiles.output == named.output == default_m.output
    from pbitsim.rulebook import rule
    assert f"{rule('bs' + real).label} M=7" in named.output and "predictor 2" in named.output
    as_json = [json.loads(_run("estimate", "--algo", a, *args, "--json", "-").output)
               for a in (real, f"bs{real}")]
    r, t = (d["algorithms"][n] for d, n in zip(as_json, (real, f"bs{real}")))
    assert r["n_pbits"] == 0 and t["n_pbits"] > 0
    assert r["run_epochs"] == t["run_epochs"]  # the same stages, priced on other units
    assert t["inference_pj"] < r["inference_pj"]


@pytest.mark.parametrize("args, text", [
    (("estimate", "--algo", "cafo-dfa", "--tiles", "7", "--arch", "{bad}"),
     "bscafo-dfa (cafo-dfa --tiles) on norm-then-pool: pool1 pools after a normalisation"),
    (("train", "--algo", "cafo-dfa", "--tiles", "7", "--arch", "{bad}"),
     "bscafo-dfa (cafo-dfa --tiles) on norm-then-pool"),
    (("train", "--algo", "bscafo-rand", "--arch", "{bad}"),
     "bscafo-rand (cafo-rand --tiles) on norm-then-pool"),
    (("train", "--algo", "bscafo-rand", "--dfa-epochs", "3"),
     "--dfa-epochs applies to cafo-dfa and bscafo-dfa"),
    (("train", "--algo", "bscafo-dfa", "--schedule", "none"),
     "--schedule none: bscafo-dfa has the schedules greedy, online"),
    (("train", "--algo", "cafo-rand", "--schedule", "staggered"),
     "--schedule staggered: cafo-rand has the schedules greedy, online"),
    (("train", "--algo", "cafo-rand", "--dfa-epochs", "3"), "--dfa-epochs applies to cafo-dfa"),
    (("train", "--algo", "cafo-dfa", "--dfa-epochs", "-1"), "--dfa-epochs must be an integer"),
    (("estimate", "--algo", "cafo-dfa", "--dfa-epochs", "-2"), "--dfa-epochs must be"),
    (("estimate", "--algo", "cafo-rand", "--arch", "cafo-cnn-mnist", "--schedule", "greedy",
      "--layer-epochs", "2,2"), "--layer-epochs: 2 value(s) for the 3 layers"),
])
def test_bad_input_is_one_error_line(tmp_path, args, text):
    bad = tmp_path / "bad.toml"
    bad.write_text(NORM_THEN_POOL)
    line = _one_error_line(_run(*(a.format(bad=bad) for a in args),
                                *(("--out", str(tmp_path / "o")) if args[0] == "train" else ())))
    assert text in line, line


def test_real_form_runs_on_a_net_the_p_bit_form_refuses(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(NORM_THEN_POOL)
    assert _run("estimate", "--algo", "cafo-dfa", "--arch", str(bad)).exit_code == 0
