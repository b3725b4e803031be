"""The README's "BSFF against the paper's claim" table: BSFF and BGBSFF against CwC-FF (or FF)
under the settings that move the ratio. Pure Python, no data: ``python examples/estimate_settings.py``.
"""

from __future__ import annotations

import dataclasses

from pbitsim.estimator import estimate
from pbitsim.hardware.tables import load_table


def ratios(**kw):
    arch = kw.pop("arch", None)
    algos = kw.pop("algos", ("cwc", "bsff", "bgbsff"))
    e = estimate(**({"arch": arch} if arch else {}), algos=algos, **kw)
    base = e.get(algos[0])
    out = []
    for name in ("bsff", "bgbsff"):
        a = e.get(name)
        total = base.total_pj("train") / a.total_pj("train")
        compute = (base.price["train"]["compute_pj"] / a.price["train"]["compute_pj"])
        out.append((total, compute))
    return out


def main() -> None:
    sram = load_table("horowitz-45nm")
    sram = dataclasses.replace(sram, levels={**sram.levels, "weight": "sram_1mb",
                                             "grad": "sram_1mb"})
    settings = [
        ("default: M = 7, density 0.15", {}),
        ("M = 3", {"tiles": 3}),
        ("M = 1, density 0.15", {"tiles": 1}),
        ("M = 1, density 0.05", {"tiles": 1, "density": 0.05}),
        ("weights and gradients in the 1 MB SRAM", {"table": sram}),
        ("`--table jouppi-7nm`", {"table": "jouppi-7nm"}),
        ("`--grad-quant sign --update shift` (BGBSFF's hardware scheme)",
         {"grad_quant": "sign", "update": "shift"}),
        ("`--schedule staggered --dataset cifar10` (train's default freezing)",
         {"schedule": "staggered", "dataset": "cifar10"}),
        ("`--arch cwc-cifar10` (ungrouped, pools after blocks 1 and 3)",
         {"arch": "cwc-cifar10"}),
        ("`--arch ff-mlp-4x2000` (vs Hinton's FF, two passes)",
         {"arch": "ff-mlp-4x2000", "algos": ("ff", "bsff", "bgbsff")}),
    ]
    print("| setting (cfse-cifar10 unless named) | BSFF vs CwC-FF | BGBSFF vs CwC-FF "
          "| compute only, BSFF / BGBSFF |")
    print("|---|---|---|---|")
    for label, kw in settings:
        (b, bc), (g, gc) = ratios(**kw)
        print(f"| {label} | {b:.2f}x lower | {g:.2f}x lower | {bc:.1f}x / {gc:.1f}x |")


if __name__ == "__main__":
    main()
