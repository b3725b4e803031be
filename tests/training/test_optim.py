"""pbitsim's Adam, AdamW and SGD against torch.optim's (torch's default CPU path): the same
weights and states bit for bit over many steps, the same state dicts, checkpoints that cross
between the two, and no ``torch._dynamo`` imported by a training run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pbitsim.training import optim

ROOT = Path(__file__).resolve().parents[2]

SHAPES = [(7, 5), (13,), (3, 4, 3, 3), (1,), (64, 33)]


def _params(seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=dtype).requires_grad_() for s in SHAPES]


def _grads(gen, params, step):
    """Gradients spread over many orders of magnitude; a parameter skipped now and then."""
    out = []
    for i, p in enumerate(params):
        if (step + i) % 7 == 3:
            out.append(None)
            continue
        scale = 10.0 ** float(torch.empty(()).uniform_(-7, 2, generator=gen))
        out.append(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return out


def _copies(params):
    return [p.detach().clone().requires_grad_() for p in params]


def _groups(params, split):
    if not split:
        return params
    return [{"params": params[:2]}, {"params": params[2:], "lr": 3e-4}]


def _run(ours, theirs, mine, ref, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for a, b, g in zip(mine, ref, _grads(gen, mine, step)):
            a.grad = None if g is None else g.clone()
            b.grad = None if g is None else g.clone()
        ours.step()
        theirs.step()
        for a, b in zip(mine, ref):
            assert torch.equal(a, b), f"step {step + 1}: weights differ"
        ours.zero_grad(set_to_none=step % 2 == 0)
        theirs.zero_grad(set_to_none=step % 2 == 0)


def _same_state(ours, theirs):
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert [list(g) for g in a["param_groups"]] == [list(g) for g in b["param_groups"]]
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert list(a["state"][k]) == list(b["state"][k])
        for key, v in a["state"][k].items():
            w = b["state"][k][key]
            assert v.dtype == w.dtype and v.shape == w.shape and torch.equal(v, w), key


ADAM_CASES = [
    ("Adam", dict(lr=1e-3), False),
    ("Adam", dict(lr=0.01), True),
    ("Adam", dict(lr=3e-3, weight_decay=0.1), False),
    ("Adam", dict(lr=2e-3, betas=(0.8, 0.99), eps=1e-6), True),
    ("AdamW", dict(lr=0.003, weight_decay=0.01), True),
    ("AdamW", dict(lr=1e-2), False),
    ("SGD", dict(lr=2.0 ** -7), False),
    ("SGD", dict(lr=0.05, weight_decay=1e-3), True),
]
#: torch's options that pbitsim's optimizers refuse (no rule uses them)
REFUSED = [("Adam", dict(amsgrad=True), "amsgrad"), ("Adam", dict(maximize=True), "maximize"),
           ("AdamW", dict(amsgrad=True), "amsgrad"),
           ("SGD", dict(lr=0.1, momentum=0.9), "momentum"),
           ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3), "momentum"),
           ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), "momentum"),
           ("SGD", dict(lr=0.1, maximize=True), "maximize")]


@pytest.mark.parametrize("name,kw,split", ADAM_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_weights_and_state_as_torch(name, kw, split, dtype):
    mine = _params(1, dtype)
    ref = _copies(mine)
    ours = getattr(optim, name)(_groups(mine, split), **kw)
    theirs = getattr(torch.optim, name)(_groups(ref, split), **kw)
    _run(ours, theirs, mine, ref, 60, seed=2)
    _same_state(ours, theirs)


def _saved(opt):
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name,kw,split", [ADAM_CASES[1], ADAM_CASES[2], ADAM_CASES[4],
                                           ADAM_CASES[7]])
@pytest.mark.parametrize("direction", ["torch->ours", "ours->torch"])
def test_checkpoints_cross_between_torch_and_ours(name, kw, split, direction):
    """k steps with one optimizer, its state dict through torch.save / torch.load, then both
    continue from it: they stay identical to an uninterrupted torch run."""
    first = torch.optim if direction == "torch->ours" else optim
    second = optim if direction == "torch->ours" else torch.optim
    mine = _params(3)
    ref = _copies(mine)
    a = getattr(first, name)(_groups(mine, split), **kw)
    b = getattr(torch.optim, name)(_groups(ref, split), **kw)
    _run(a, b, mine, ref, 25, seed=4)
    resumed = _copies(mine)
    c = getattr(second, name)(_groups(resumed, split), lr=0.5)  # the saved lr wins
    c.load_state_dict(_saved(a))
    _run(c, b, resumed, ref, 25, seed=5)
    _same_state(c, b)


def test_state_dict_layout_is_torchs():
    mine = _params(0)
    ours, theirs = optim.Adam(_groups(mine, True), lr=0.01), torch.optim.Adam(
        _groups(_copies(mine), True), lr=0.01)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a == b  # before any step: no state, the groups' keys in torch's order
    assert [list(g) for g in a["param_groups"]] == [list(g) for g in b["param_groups"]]


def test_load_refuses_what_does_not_fit():
    mine = _params(0)
    ours = optim.Adam(mine, lr=0.01)
    other = torch.optim.Adam(mine[:3], lr=0.01)
    with pytest.raises(ValueError, match="doesn't match the size"):
        ours.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match="number of parameter groups"):
        ours.load_state_dict(torch.optim.Adam(_groups(_copies(mine), True)).state_dict())
    with pytest.raises(ValueError, match="not supported"):
        optim.Adam(mine, foreach=True)
    with pytest.raises(ValueError, match="not supported"):
        optim.SGD(mine, lr=torch.tensor(0.1))
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": mine[:2]}, {"params": mine[1:]}], lr=0.1)


@pytest.mark.parametrize("name,kw,key", REFUSED)
def test_refuses_torchs_options_the_rules_do_not_use(name, kw, key):
    """Built with one, or loading a torch state dict that asks for one: one ValueError."""
    mine = _params(0)
    with pytest.raises(ValueError, match=f" {key}=.* is not supported"):
        getattr(optim, name)(mine, **kw)
    theirs = getattr(torch.optim, name)(_copies(mine), **kw)
    ours = getattr(optim, name)(mine, lr=0.1)
    with pytest.raises(ValueError, match=f"the state dict asks for {key}=.* is not supported"):
        ours.load_state_dict(theirs.state_dict())


def test_refuses_complex_parameters():
    p = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
    o = optim.Adam([p])
    p.grad = torch.ones(3, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match="complex"):
        o.step()


def test_zero_grad_like_torch():
    p = torch.ones(3, requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    p.grad = torch.full((3,), 2.0)
    o.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(3))
    o.zero_grad()
    assert p.grad is None


def test_training_runs_load_no_torch_dynamo_and_float_runs_no_numba(mnist_dir, tmp_path):
    """One step each through the command line, in one fresh process: CwC-FF (float: no kernel,
    so no Numba), then Adam (bsff), AdamW (sff) and the shift SGD (bgbsff --update shift);
    torch.optim's optimizers would import torch._dynamo."""
    runs = [["--algo", "cwc", "--arch", "cwc-mnist"],
            ["--algo", "bsff", "--arch", "examples/archs/my-mlp.toml", "--tiles", "3"],
            ["--algo", "bgbsff", "--update", "shift", "--arch", "examples/archs/my-mlp.toml",
             "--tiles", "3"],
            ["--algo", "sff", "--arch", "examples/archs/small-sff.toml"]]
    code = "\n".join([
        "import sys",
        "from pbitsim.cli.main import main",
        f"for i, extra in enumerate({runs!r}):",
        "    try:",
        f"        main(['train', '--data-dir', {str(mnist_dir)!r}, '--limit-train', '32',",
        "              '--limit-test', '16', '--batch-size', '32', '--calibration-samples', '0',",
        f"              '--threads', '1', '--out', {str(tmp_path)!r} + f'/run{{i}}'] + extra)",
        "    except SystemExit as e:",
        "        assert not e.code, e.code",
        "    print(i, 'numba' in sys.modules, 'torch._dynamo' in sys.modules)"])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [l for l in done.stdout.splitlines() if l[:2] in ("0 ", "1 ", "2 ", "3 ")] == [
        "0 False False", "1 True False", "2 True False", "3 True False"]


@pytest.mark.parametrize("algo,kw", [
    ("bsff", dict(tiles=3)),                                  # Adam
    ("bgbsff", dict(tiles=3, update="shift")),                # the shift SGD (head: Adam)
    ("sff", dict(arch=str(ROOT / "examples" / "archs" / "small-sff.toml")))])  # AdamW
def test_checkpoint_of_torch_optim_resumes_identically(mnist_small, tmp_path, monkeypatch,
                                                       algo, kw):
    """A run stopped after 2 steps while the rules used torch.optim (the checkpoints written
    before pbitsim had its own optimizers), resumed with pbitsim's: the same weights, counts and
    accuracy as an uninterrupted run with pbitsim's."""
    from train_helpers import StopAfter

    from pbitsim.training import TrainConfig, Trainer
    from pbitsim.training import helpers

    kw.setdefault("arch", str(ROOT / "examples" / "archs" / "my-mlp.toml"))
    cfg = dict(algo=algo, dataset="mnist", epochs=2, batch_size=32, limit_train=96,
               limit_test=32, calibration_samples=0, **kw)
    full = Trainer(TrainConfig(**cfg), mnist_small, tmp_path / "full")
    res_full = full.run()

    with monkeypatch.context() as m:  # the rules on torch.optim, as before
        m.setattr(helpers, "Adam", torch.optim.Adam)
        m.setattr(helpers, "SGD", torch.optim.SGD)
        m.setattr("pbitsim.rules.sff.train.AdamW", torch.optim.AdamW)
        first = Trainer(TrainConfig(**cfg), mnist_small, tmp_path / "split")
        assert all(isinstance(o, torch.optim.Optimizer) for o in first.algo.optims)
        stopper = StopAfter(2)
        first.reporter, stopper.trainer = stopper, first
        assert first.run() is None
    second = Trainer(TrainConfig(**cfg), mnist_small, tmp_path / "split")
    assert not any(isinstance(o, torch.optim.Optimizer) for o in second.algo.optims)
    res_split = second.run(resume=True)
    for a, b in zip(full.algo.model.state_dict().values(),
                    second.algo.model.state_dict().values()):
        assert torch.equal(a, b)
    assert second.counts == full.counts
    assert res_split["test_accuracy"] == res_full["test_accuracy"]
    assert [h["loss"] for h in res_split["history"]] == [h["loss"] for h in res_full["history"]]
