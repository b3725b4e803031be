"""The README's fixed-point tables: the runs of ``examples/precision_tradeoff.sh`` and the
estimate's ratios at each datapath.

    python examples/precision_table.py OUT_DIR

Prints (markdown) the measured accuracy and priced energy of each run, then the estimate of
BSFF, BGBSFF, CwC-FF and BP on cfse-mnist at the same datapaths (every rule at the same widths).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pbitsim.estimator import estimate

DATAPATHS = ["fp32", "w16a32", "w8a32", "w4a32", "w8a24", "w8a20", "w8a16", "w8a12", "w8a10"]


def _bits(label: str) -> dict:
    if label == "fp32":
        return {}
    w, rest = label[1:].split("a")
    a, _, g = rest.partition("g")
    out = {"weight_bits": int(w), "acc_bits": int(a)}
    if g:
        out["grad_bits"] = int(g)
    return out


def runs(out: Path) -> None:
    print("| data set | datapath | test acc. (head / goodness) | train energy / sample | "
          "inference / sample |")
    print("|---|---|---|---|---|")
    for data in ("mnist", "fashion-mnist"):
        for p in DATAPATHS:
            path = out / f"{data}-{p}" / "results.json"
            if not path.is_file():
                continue
            r = json.loads(path.read_text())
            acc = r["test_accuracy"]
            e = r["energy"]
            print(f"| {data} | {p} | {100 * acc['sf']:.1f}% / {100 * acc['avg']:.1f}% | "
                  f"{e['train_pj_per_sample'] / 1e6:.0f} uJ | "
                  f"{e['inference_pj_per_sample'] / 1e6:.1f} uJ |")


def ratios() -> None:
    print()
    print("| datapath | BSFF / sample | BSFF vs CwC-FF | BGBSFF vs CwC-FF | BSFF vs BP | "
          "inference: BSFF vs CwC-FF |")
    print("|---|---|---|---|---|---|")
    for p in DATAPATHS + ["w8a32g8", "w8a16g8", "w4a12g4"]:
        e = estimate("cfse-mnist", ["bp", "cwc", "bsff", "bgbsff"], **_bits(p))
        b, g, c, bp = (e.get(n) for n in ("bsff", "bgbsff", "cwc", "bp"))
        print(f"| {p} | {b.total_pj() / 1e6:.0f} uJ | "
              f"{c.total_pj() / b.total_pj():.2f}x | {c.total_pj() / g.total_pj():.2f}x | "
              f"{bp.total_pj() / b.total_pj():.2f}x | "
              f"{c.total_pj('inference') / b.total_pj('inference'):.2f}x |")


if __name__ == "__main__":
    runs(Path(sys.argv[1]))
    ratios()
