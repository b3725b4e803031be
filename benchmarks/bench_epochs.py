"""What a user waits for: whole ``pbitsim train`` runs of BSFF M=7 against CwC-FF, alternated.

Each round runs ``pbitsim train`` as a fresh process four times, the two rules in alternating
order (BSFF first in even rounds, CwC-FF first in odd ones), each rule on ``--small`` and on
``--large`` training images (one epoch, the default network unless ``--arch``). From each run's
``results.json`` (``train_wall_s``, ``eval_wall_s``) and the process's own wall time:

* **steady state**: the training time per 1,024 images from the difference of the two runs,
  ``(train_wall(large) - train_wall(small)) / (large - small)``, so the first step's costs (Numba
  cache loads, first calls) and start-up cancel;
* **start-up**: the process's wall time outside training and evaluation (imports, data, model,
  writing the results), and the first steps' extra: ``train_wall(small)`` less ``small`` images
  at the steady rate;
* the ratio BSFF / CwC-FF of the steady state per round, its median and its spread (min-max),
  and each rule's spread of steady-state times over the rounds (max / min);
* the same steady state and ratio in **CPU time**: the run process's user + system time
  (``getrusage`` of the finished child), differenced the same way (start-up and evaluation
  cancel as well). On a shared machine with ``--threads 1`` this is the load-insensitive
  figure (wall time counts the waits for a core); with more threads it also counts the
  thread pools' spinning.

    python benchmarks/bench_epochs.py --data-dir DATA/mnist [--rounds 3] [--small 256]
        [--large 1280] [--arch cfse-mnist] [--threads N] [--tiles 7] [--out DIR]

The runs write into ``--out`` (default: a temporary folder, removed after). Uses only the
command line a user types (``python -m pbitsim train``); the extra arguments after ``--`` are
passed to every run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RULES = ("bsff", "cwc")
LABEL = {"bsff": "BSFF M={tiles}", "cwc": "CwC-FF"}


def run_train(rule: str, images: int, out: Path, args, extra) -> dict:
    """One ``pbitsim train`` process; its results.json figures and its own wall time."""
    cmd = [sys.executable, "-m", "pbitsim", "train", "--algo", rule, "--arch", args.arch,
           "--dataset", args.dataset, "--limit-train", str(images),
           "--limit-test", str(args.test), "--epochs", "1", "--batch-size", str(args.batch_size),
           "--seed", "0", "--out", str(out)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    if rule != "cwc":
        cmd += ["--tiles", str(args.tiles)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd + list(extra), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode:
        raise SystemExit(f"Error: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    res = json.loads((out / "results.json").read_text())
    return {"wall_s": wall, "train_s": res["train_wall_s"], "eval_s": res["eval_wall_s"],
            "cpu_s": cpu}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="dataset folder (default: pbitsim's search)")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--arch", default="cfse-mnist")
    ap.add_argument("--tiles", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", type=int, default=256, help="training images of the short run")
    ap.add_argument("--large", type=int, default=1280, help="training images of the long run")
    ap.add_argument("--test", type=int, default=256, help="test images of every run")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="--threads of every run")
    ap.add_argument("--out", default=None, help="keep the runs' folders here")
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if not 0 < args.small < args.large:
        raise SystemExit("Error: need 0 < --small < --large")
    if args.rounds < 1:
        raise SystemExit("Error: --rounds must be >= 1")
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_epochs_"))
    per = 1024 / (args.large - args.small)
    steady = {r: [] for r in RULES}
    steady_cpu = {r: [] for r in RULES}
    startup = {r: [] for r in RULES}
    first = {r: [] for r in RULES}
    try:
        for k in range(args.rounds):
            rules = RULES if k % 2 == 0 else RULES[::-1]
            got = {}
            for rule in rules:
                for n in (args.small, args.large):
                    out = root / f"r{k}-{rule}-{n}"
                    shutil.rmtree(out, ignore_errors=True)
                    got[rule, n] = run_train(rule, n, out, args, extra)
            for rule in RULES:
                s, l = got[rule, args.small], got[rule, args.large]
                rate = (l["train_s"] - s["train_s"]) * per  # s per 1,024 images
                steady[rule].append(rate)
                steady_cpu[rule].append((l["cpu_s"] - s["cpu_s"]) * per)
                startup[rule].append(s["wall_s"] - s["train_s"] - s["eval_s"])
                first[rule].append(s["train_s"] - rate * args.small / 1024)
            print(f"round {k + 1}: steady s/1024 images " + ", ".join(
                f"{r} {steady[r][-1]:.2f}" for r in RULES)
                + f"; ratio {steady['bsff'][-1] / steady['cwc'][-1]:.2f}; CPU s/1024 images "
                + ", ".join(f"{r} {steady_cpu[r][-1]:.2f}" for r in RULES)
                + f"; ratio {steady_cpu['bsff'][-1] / steady_cpu['cwc'][-1]:.2f}", flush=True)
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    ratios = [b / c for b, c in zip(steady["bsff"], steady["cwc"])]
    print(f"\n{args.arch}, {args.dataset}, batch {args.batch_size}, threads "
          f"{args.threads or 'default'}, {args.rounds} alternated rounds of one-epoch runs on "
          f"{args.small} and {args.large} images")
    for rule in RULES:
        t = steady[rule]
        print(f"  {LABEL[rule].format(tiles=args.tiles):10s} steady s per 1,024 images: "
              + " ".join(f"{v:6.2f}" for v in t)
              + f"  median {statistics.median(t):6.2f}  spread max/min {max(t) / min(t):.2f}"
              + f"; start-up (outside train+eval) median {statistics.median(startup[rule]):.2f} s"
              + f", first steps' extra median {statistics.median(first[rule]):.2f} s")
    print("  ratio BSFF / CwC-FF per round: " + " ".join(f"{v:.2f}" for v in ratios)
          + f"; median {statistics.median(ratios):.2f}, spread {min(ratios):.2f}-{max(ratios):.2f}")
    cpu_ratios = [b / c for b, c in zip(steady_cpu["bsff"], steady_cpu["cwc"])]
    for rule in RULES:
        t = steady_cpu[rule]
        print(f"  {LABEL[rule].format(tiles=args.tiles):10s} steady CPU s per 1,024 images: "
              + " ".join(f"{v:6.2f}" for v in t) + f"  median {statistics.median(t):6.2f}")
    print("  CPU ratio BSFF / CwC-FF per round: " + " ".join(f"{v:.2f}" for v in cpu_ratios)
          + f"; median {statistics.median(cpu_ratios):.2f}, "
          + f"spread {min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}")


if __name__ == "__main__":
    main()
