"""One network, one cost model: a measured training step equals the estimator's step.

For every algorithm on every built-in network and two user TOML files (a conv net and an MLP),
the counts that one training step and one inference batch of the torch bridge record equal what
``pbitsim.estimator`` estimates for the same batch: exactly for the real-valued rules; for the
tiled rules when the estimator is given the tile statistics measured on the counts each index
layer read. Index products on convolutions with zero padding are the one term that cannot match
exactly from two statistics: a border pixel is read by fewer output positions than an inner one,
so the kernel's count weighs them unequally (the model takes every input position as used
alike); those keys (adds, weight fetches, gradient reads) agree to 1%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pbitsim import counting
from pbitsim.network.arch_rules import TILED_RULES, arch_rule
from pbitsim.estimator.algorithms import ModelParams, get_algorithm
from pbitsim.network.archs import list_archs, load_arch
from pbitsim.network.tiles import TileStats
from pbitsim.rulebook import RULE_SPECS, family
from pbitsim.schedules import CAFO_DFA_RULES
from pbitsim.training.algorithms import make_algorithm
from pbitsim.training.trainer import TrainConfig

BATCH = 4
TILES = 3
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "archs"
ARCHS = list_archs() + [str(EXAMPLES / "small-convnet.toml"), str(EXAMPLES / "my-mlp.toml")]
# Every rule (from the descriptors: a new rule package is covered without editing this file);
# the CaFo family has its stage-by-stage cases below.
ALGOS = tuple(n for n, s in RULE_SPECS.items() if s.family != "cafo")
DENSE_ONLY = family("ff") + family("mf")  # rules of all-dense nets
CONV_ONLY = family("sff")  # rules whose goodness conv reads feature maps
TILED = tuple(n for n in ALGOS if RULE_SPECS[n].tiled)
# every layer learns on every step under the rule's online schedule
ONLINE = tuple(n for n in ALGOS if "online" in RULE_SPECS[n].schedules)
CASES = [(algo, arch) for arch in ARCHS for algo in ALGOS
         if arch_rule(algo, load_arch(arch)) is None]


def _index_layers(alg):
    """The index layers in the estimator's order: the network's, then (bsmf) the last
    projection, in the head's place (projection i reads what layer i + 1 reads)."""
    from pbitsim.bridge.modules import BSNConv2d, BSNLinear
    own = [m for m in alg.model.modules() if isinstance(m, (BSNConv2d, BSNLinear))]
    return own + list(getattr(alg, "extra_index_layers", list)())


def _read_stats(alg, training: bool, layers=None):
    """The mean count and nonzero fraction every index layer read (its own statistics)."""
    out = []
    for m in (_index_layers(alg) if layers is None else layers):
        mean, nonzero = m.input_stats(training)
        out.append(TileStats(TILES, mean / TILES, nonzero))
    return tuple(out)


def _estimated(algo, arch, params, scope):
    model = get_algorithm(algo)
    rows = (model.training_step if scope == "train" else model.inference_step)(arch, params)
    total = {}
    for row in rows:
        for k, v in row.total().items():
            total[k] = total.get(k, 0.0) + v
    return {k: v for k, v in total.items() if abs(v) > 1e-9}


def _compare(measured, estimated: dict, tiled: bool):
    m = measured.as_dict()
    assert set(m) == set(estimated), sorted(set(m) ^ set(estimated))
    for key, value in m.items():
        data_dependent = tiled and key.split(":")[0] in ("add", "weight_read", "grad_read")
        assert value == pytest.approx(estimated[key], rel=0.01 if data_dependent else 1e-9), key


# The tiled rules on both backends (the kernels, and torch on the counts with the kernels'
# closed-form counts); the real-valued rules do not use them.
RUNS = [(algo, arch, backend) for algo, arch in CASES
        for backend in (("dense", "index") if algo in TILED else ("dense",))]


@pytest.mark.parametrize("algo, arch, backend", RUNS,
                         ids=[f"{a}-{Path(n).stem}-{b}" for a, n, b in RUNS])
def test_one_training_step_and_inference(algo, arch, backend):
    net = load_arch(arch)
    torch.manual_seed(0)
    cfg = TrainConfig(algo=algo, dataset="cifar10" if net.input_shape[0] == 3 else "mnist",
                      batch_size=BATCH, tiles=TILES,
                      schedule="online" if algo in ONLINE else "none", arch=arch,
                      backend=backend)
    alg = make_algorithm(cfg, net.input_shape, net.classes)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((BATCH, *net.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, net.classes, BATCH))
    tiled = algo in TILED
    with counting() as measured:
        alg.train_step(x, y, (0, 0), 0.0)
    params = ModelParams(tiles=TILES, batch_size=BATCH,
                         stats=_read_stats(alg, True) if tiled else None)
    _compare(measured, _estimated(algo, net, params, "train"), tiled)

    with counting() as measured:
        alg.predict(x, (1, 0))
    params = ModelParams(tiles=TILES, batch_size=BATCH,
                         stats=_read_stats(alg, False) if tiled else None)
    _compare(measured, _estimated(algo, net, params, "inference"), tiled)


def test_every_algorithm_and_arch_family_is_covered():
    covered = {(a, load_arch(n).blocks[0].linear.type) for a, n in CASES}
    for algo in ALGOS:
        if algo not in CONV_ONLY:
            assert (algo, "dense") in covered
        if algo not in DENSE_ONLY:
            assert (algo, "conv2d") in covered


MF_ARCHS = [a for a in ARCHS if arch_rule("mf", load_arch(a)) is None]


@pytest.mark.parametrize("algo, arch", [(a, n) for a in ("mf", "bsmf") for n in MF_ARCHS],
                         ids=[f"{a}-{Path(n).stem}" for a in ("mf", "bsmf") for n in MF_ARCHS])
def test_mf_greedy_stages(algo, arch):
    """A greedy MF step of every stage (layer k learns, the layers below recomputed without
    masks, none above run) equals the estimator's stage step."""
    net = load_arch(arch)
    torch.manual_seed(0)
    cfg = TrainConfig(algo=algo, dataset="cifar10" if net.input_shape[0] == 3 else "mnist",
                      batch_size=BATCH, schedule="greedy", epochs=2, arch=arch, tiles=TILES)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((BATCH, *net.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, net.classes, BATCH))
    model = get_algorithm(algo)
    tiled = algo == "bsmf"
    for k in range(len(net.blocks)):
        torch.manual_seed(0)  # a fresh net per stage: each index layer's statistics its own
        alg = make_algorithm(cfg, net.input_shape, net.classes)
        with counting() as measured:
            alg.train_step(x, y, (k * cfg.epochs, 0), 0.0)
        # stage k: layers 2..k+1 read counts 1..k, projection k reads counts k
        layers = None
        if tiled:
            own = _index_layers(alg)[:len(net.blocks) - 1]
            layers = own[:k] + [alg.projs[k]]
        rows = model.stage_step(net, ModelParams(batch_size=BATCH, tiles=TILES,
                                                 stats=_read_stats(alg, True, layers)
                                                 if tiled else None), k)
        est = {}
        for row in rows:
            for key, v in row.total().items():
                est[key] = est.get(key, 0.0) + v
        _compare(measured, {k_: v for k_, v in est.items() if abs(v) > 1e-9}, tiled)


# CaFo: every stage of a run (DFA-CE's block stage, each greedy predictor stage, online) and
# inference, real-valued and on tiled p-bit units (bscafo-*), measured == estimated.
CAFO = family("cafo")
# (small-sff: pre_norm and layer norms, which only the p-bit forms take)
CAFO_ARCHS = ["cafo-cnn-mnist", str(EXAMPLES / "small-convnet.toml"),
              str(EXAMPLES / "my-mlp.toml"), str(EXAMPLES / "small-sff.toml")]
CAFO_CASES = [(algo, arch, TILES if algo in TILED_RULES else None)
              for algo in CAFO for arch in CAFO_ARCHS
              if arch_rule(algo, load_arch(arch)) is None]


@pytest.mark.parametrize("algo, arch, tiles", CAFO_CASES,
                         ids=[f"{a}-{Path(n).stem}" for a, n, _ in CAFO_CASES])
def test_cafo_stages_and_inference(algo, arch, tiles):
    net = load_arch(arch)
    model = get_algorithm(algo)
    assert model.tiled == (tiles is not None)
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((BATCH, *net.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, net.classes, BATCH))
    dfa = 1 if algo in CAFO_DFA_RULES else 0
    blocks = len(net.blocks)
    stages = (["dfa"] if dfa else []) + list(range(blocks)) + [None]
    for stage in stages:
        torch.manual_seed(0)  # a fresh net per stage: each index layer's statistics its own
        cfg = TrainConfig(algo=algo, dataset="cifar10" if net.input_shape[0] == 3 else "mnist",
                          batch_size=BATCH, tiles=tiles, arch=arch, epochs=1,
                          schedule="online" if stage is None else "greedy",
                          dfa_epochs=dfa or None)
        alg = make_algorithm(cfg, net.input_shape, net.classes)
        assert alg.tiled == (tiles is not None) and alg.model.simulated == alg.tiled
        epoch = dfa + (0 if stage in ("dfa", None) else stage) if stage != "dfa" else 0
        with counting() as measured:
            alg.train_step(x, y, (epoch, 0), 0.0)
        layers = None
        if tiles is not None:  # what read each block's counts in this stage
            own = _index_layers(alg)[:blocks - 1]
            reader = {"dfa": alg.aux if dfa else None, None: alg.preds[-1]}.get(stage)
            layers = own + [reader] if stage in ("dfa", None) else own[:stage] + [alg.preds[stage]]
        params = ModelParams(tiles=TILES, batch_size=BATCH,
                             stats=_read_stats(alg, True, layers) if tiles else None)
        est = {}
        for row in model.stage_step(net, params, stage):
            for key, v in row.total().items():
                est[key] = est.get(key, 0.0) + v
        _compare(measured, {k: v for k, v in est.items() if abs(v) > 1e-9}, tiles is not None)
    with counting() as measured:  # inference of the last (online) net
        alg.predict(x, (1, 0))
    params = ModelParams(tiles=TILES, batch_size=BATCH,
                         stats=_read_stats(alg, False) if tiles else None)
    _compare(measured, _estimated_model(model, net, params), tiles is not None)


def _estimated_model(model, arch, params):
    total = {}
    for row in model.inference_step(arch, params):
        for k, v in row.total().items():
            total[k] = total.get(k, 0.0) + v
    return {k: v for k, v in total.items() if abs(v) > 1e-9}


def test_cafo_online_run_step_is_its_stages_weighted():
    """The estimator's mean step of a CaFo-DFA run: block epochs and online epochs weighted."""
    net = load_arch("cafo-cnn-mnist")
    model = get_algorithm("cafo-dfa")
    params = ModelParams(batch_size=BATCH, dfa_epochs=2, epochs=3)
    parts = [model.stage_step(net, params, "dfa"), model.stage_step(net, params, None)]
    mean = model.training_step(net, params)
    for i, row in enumerate(mean):
        want = parts[0][i].total().scaled(2 / 5) + parts[1][i].total().scaled(3 / 5)
        got = row.total()
        assert set(got) == set(want)
        for k in got:
            assert got[k] == pytest.approx(want[k], rel=1e-12)


# Fixed-point datapaths (pbitsim.precision): the same step on integer weights and saturating
# accumulators (a narrow one sends the dense backend through the integer kernels), with and
# without integer errors, equals the estimate at the same widths.
SMALL = [str(EXAMPLES / "small-convnet.toml"), str(EXAMPLES / "my-mlp.toml")]
PRECISIONS = [(8, 32, None), (6, 14, 8)]
FIXED_RUNS = [(algo, arch, backend, prec) for algo in ("bp", "ff", "cwc", "bsff", "bgbsff")
              for arch in SMALL if arch_rule(algo, load_arch(arch)) is None
              for prec in PRECISIONS if not (algo == "bgbsff" and prec[2] is not None)
              for backend in (("dense", "index") if algo in TILED else ("dense",))]


@pytest.mark.parametrize("algo, arch, backend, prec", FIXED_RUNS,
                         ids=[f"{a}-{Path(n).stem}-{b}-w{p[0]}a{p[1]}g{p[2]}"
                              for a, n, b, p in FIXED_RUNS])
def test_fixed_point_step_equals_estimate(algo, arch, backend, prec):
    from pbitsim.precision import make_precision
    net = load_arch(arch)
    torch.manual_seed(0)
    w, a, g = prec
    cfg = TrainConfig(algo=algo, dataset="cifar10" if net.input_shape[0] == 3 else "mnist",
                      batch_size=BATCH, tiles=TILES, schedule="none", arch=arch, backend=backend,
                      weight_bits=w, acc_bits=a, grad_bits=g)
    alg = make_algorithm(cfg, net.input_shape, net.classes)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((BATCH, *net.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, net.classes, BATCH))
    tiled = algo in TILED
    with counting() as measured:
        alg.train_step(x, y, (0, 0), 0.0)
    keys = measured.as_dict()
    assert f"weight_read:int{w}" in keys and f"add:int{a}" in keys
    assert (f"grad_read:int{g}" in keys) == (g is not None)
    precision = make_precision(w, a, g)
    params = ModelParams(tiles=TILES, batch_size=BATCH, precision=precision,
                         stats=_read_stats(alg, True) if tiled else None)
    _compare(measured, _estimated(algo, net, params, "train"), tiled)
    with counting() as measured:
        alg.predict(x, (1, 0))
    params = ModelParams(tiles=TILES, batch_size=BATCH, precision=precision,
                         stats=_read_stats(alg, False) if tiled else None)
    _compare(measured, _estimated(algo, net, params, "inference"), tiled)
@pytest.mark.parametrize("algo, arch", [("mf", str(EXAMPLES / "my-mlp.toml")),
                                        ("sff", str(EXAMPLES / "small-sff.toml"))])
def test_tiles_runs_the_tiled_form(algo, arch):
    """``--algo mf|sff --tiles M`` trains the tiled p-bit form, and its measured step equals
    the estimate of the name :func:`pbitsim.rules.resolve_algo` gives (bsmf, bssff)."""
    from pbitsim.rulebook import resolve_algo
    net = load_arch(arch)
    cfg = TrainConfig(algo=algo, dataset="mnist", batch_size=BATCH, tiles=TILES,
                      schedule="online", arch=arch)
    cfg = cfg.validate()
    assert cfg.algo == resolve_algo(algo, TILES) == {"mf": "bsmf", "sff": "bssff"}[algo]
    real = TrainConfig(algo=algo, dataset="mnist", schedule="online", arch=arch)
    real = real.validate()
    assert real.algo == algo and real.tiles is None
    torch.manual_seed(0)
    alg = make_algorithm(cfg, net.input_shape, net.classes)
    assert alg.model.simulated
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((BATCH, *net.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, net.classes, BATCH))
    with counting() as measured:
        alg.train_step(x, y, (0, 0), 0.0)
    params = ModelParams(tiles=TILES, batch_size=BATCH, stats=_read_stats(alg, True))
    _compare(measured, _estimated(cfg.algo, net, params, "train"), True)
