"""Markdown table of the evidence runs: python examples/train_table.py [runs/evidence]."""

import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/evidence")
print("| run | algo | M | K | train imgs x epochs | test imgs | acc Sf | acc Avg | density | "
      "train wall s | train energy/sample (uJ) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for f in sorted(root.glob("*/results.json")):
    r = json.loads(f.read_text())
    acc = r["test_accuracy"]
    e = r["energy"]
    per = f"{e['train_pj_per_sample'] / 1e6:.1f}" if "train_pj_per_sample" in e else "n/a"
    dens = f"{r['activation_density']:.3f}" if r["activation_density"] is not None else "-"
    k = r.get("eval_samples") or "-"  # sampled passes per test image (bsff/bgbsff)
    print(f"| {f.parent.name} | {r['algo']} | {r['tiles'] or '-'} | {k} | {r['train_samples']} x "
          f"{r['epochs']} | {r['test_samples']} | {100 * acc.get('sf', acc.get('goodness', 0)):.2f} | "
          f"{100 * acc['avg']:.2f} | {dens} | {r['train_wall_s']:.0f} | {per} |"
          if "avg" in acc else
          f"| {f.parent.name} | {r['algo']} | - | - | {r['train_samples']} x {r['epochs']} | "
          f"{r['test_samples']} | {100 * next(iter(acc.values())):.2f} | - | - | "
          f"{r['train_wall_s']:.0f} | {per} |")
