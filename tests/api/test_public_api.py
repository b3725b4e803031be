"""The flat public API: lazy (``estimate`` without torch), documented, and enough for a user's
own model and loop whose counts pbitsim prices (``examples/own_model.py``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pbitsim

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_model.py"


def test_estimate_and_pricing_do_not_load_torch():
    code = ("import sys, pbitsim; e = pbitsim.estimate(algos=['cwc']); "
            "p = pbitsim.price_counts({'add:fp32': 10}); r = pbitsim.rule('bsff'); "
            "assert 'torch' not in sys.modules and 'numba' not in sys.modules; "
            "print(e.arch.name, p['total_pj'] > 0, r.tiled)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cfse-cifar10", "True", "True"]


def test_every_public_name_resolves():
    for name in pbitsim.__all__:
        assert getattr(pbitsim, name) is not None, name
    assert set(pbitsim._LAZY) <= set(dir(pbitsim))


def test_own_model_example_counts_are_what_its_layers_did(capsys):
    spec = importlib.util.spec_from_file_location("own_model", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import torch
    torch.manual_seed(0)
    model = mod.PbitMLP(32, 16, 4, tiles=3)
    x = torch.randn(8, 32)
    with pbitsim.counting() as c:
        out = model(x)
    assert out.shape == (8, 4)
    d = c.as_dict()
    # 8 samples x 16 hidden units x 3 tiles, one p-bit sample each
    assert d["pbit_sample"] == 8 * 16 * 3
    # the real first layer: one multiply per weight per sample
    assert d["mul:fp32"] >= 8 * 32 * 16
    mod.main(["--steps", "20", "--tiles", "3"])
    printed = capsys.readouterr().out
    assert "uJ per sample on horowitz-45nm" in printed and "test accuracy" in printed
