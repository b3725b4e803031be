"""How long ``pbitsim train`` takes to reach its first training step, and where that time goes.

Runs ``python -m pbitsim train`` (one epoch of ``--limit-train`` images, ``--threads 1`` unless
told otherwise) in a fresh process, ``--repeat`` times, through a probe that wraps four places of
the run without changing what it does: the data load (``pbitsim.datasets.load_dataset``), the
trainer's construction (network and optimizers: ``Trainer.__init__``), the rule's first and
second ``train_step``. At each it notes the process's CPU time since it started
(``time.process_time``: user + system of all its threads, insensitive to other jobs on a shared
machine, unlike wall time) and the wall time since the parent started the process. It prints,
per run and as medians over the runs:

* ``imports``: CPU at the data load's start (the interpreter, the CLI, torch, numba, pbitsim's
  modules the command imports before it loads data);
* ``data``, ``build`` (the trainer: network, rule, optimizers), ``other`` (the rest before the
  first step: the CLI's notes and progress display, the output folder's lock, thread settings),
  ``step 1`` (the first step: Numba's import, set-up and cache loads, first calls, fresh memory),
  ``step 2`` (a steady step, for comparison);
* ``to step 1`` and ``to end of step 1``: CPU and wall time from the process's start;
* whether the run imported ``torch._dynamo`` (torch.optim's optimizers import it when built and
  on every step).

    python benchmarks/bench_startup.py --data-dir DATA/mnist [--algo bsff] [--repeat 3]
        [--limit-train 256] [--threads 1] [-- extra pbitsim train options]

The Numba cache is warmed by a first, unreported run (``--no-warm`` skips it). Wall time means
something only on a quiet machine; CPU time is the figure to compare under load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the tree whose pbitsim the runs import


def _child(report: str, t_parent: float, argv: list[str]) -> None:
    """Run ``pbitsim`` with ``argv`` under the probe; write the marks to ``report``."""
    marks: dict[str, tuple[float, float]] = {}

    def mark(name: str) -> None:
        marks[name] = (time.process_time(), time.time() - t_parent)

    import pbitsim.datasets as datasets
    import pbitsim.training.trainer as trainer

    load, init = datasets.load_dataset, trainer.Trainer.__init__

    def load_dataset(*a, **k):
        mark("data_start")
        try:
            return load(*a, **k)
        finally:
            mark("data_end")

    def trainer_init(self, *a, **k):
        mark("build_start")
        init(self, *a, **k)
        mark("build_end")
        step, calls = self.algo.train_step, [0]

        def train_step(*sa, **sk):
            calls[0] += 1
            if calls[0] <= 2:
                mark(f"step{calls[0]}_start")
            try:
                return step(*sa, **sk)
            finally:
                if calls[0] <= 2:
                    mark(f"step{calls[0]}_end")
        self.algo.train_step = train_step

    datasets.load_dataset, trainer.Trainer.__init__ = load_dataset, trainer_init

    def write() -> None:
        Path(report).write_text(json.dumps({
            "marks": marks, "dynamo": "torch._dynamo" in sys.modules,
            "optim": "torch.optim" in sys.modules, "modules": len(sys.modules)}))

    from pbitsim.cli.main import main
    try:
        main(argv)
    finally:
        write()


def _figures(m: dict) -> dict:
    marks = m["marks"]
    cpu = {k: v[0] for k, v in marks.items()}
    wall = {k: v[1] for k, v in marks.items()}
    return {"imports": cpu["data_start"], "data": cpu["data_end"] - cpu["data_start"],
            "build": cpu["build_end"] - cpu["build_start"],
            "step1": cpu["step1_end"] - cpu["step1_start"],
            "step2": cpu["step2_end"] - cpu["step2_start"] if "step2_end" in cpu else float("nan"),
            "other": cpu["step1_start"] - cpu["build_end"] + cpu["build_start"] - cpu["data_end"],
            "cpu_to_step1": cpu["step1_start"], "cpu_to_step1_end": cpu["step1_end"],
            "wall_to_step1": wall["step1_start"], "wall_to_step1_end": wall["step1_end"]}


def _line(f: dict) -> str:
    return (f"CPU to step 1 {f['cpu_to_step1']:.2f} s, to its end {f['cpu_to_step1_end']:.2f} s "
            f"(imports {f['imports']:.2f}, data {f['data']:.2f}, build {f['build']:.2f}, other "
            f"{f['other']:.2f}, step 1 {f['step1']:.2f}, step 2 {f['step2']:.2f}); wall to step 1 "
            f"{f['wall_to_step1']:.2f} s, to its end {f['wall_to_step1_end']:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--algo", default="bsff")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit-train", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("REPORT", "T0"), help=argparse.SUPPRESS)
    args, extra = ap.parse_known_args()
    if extra and extra[0] == "--":
        extra = extra[1:]
    if args.child:
        _child(args.child[0], float(args.child[1]), extra)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out, report = Path(tmp) / "run", Path(tmp) / "report.json"
        train = ["train", "--algo", args.algo, "--dataset", args.dataset, "--data-dir",
                 args.data_dir, "--limit-train", str(args.limit_train), "--limit-test", "128",
                 "--epochs", "1", "--seed", "0", "--threads", str(args.threads),
                 "--calibration-samples", "0", "--out", str(out), "--overwrite"] + extra
        for i in range(args.repeat + (0 if args.no_warm else 1)):
            t0 = time.time()
            cmd = [sys.executable, str(Path(__file__).resolve()), "--data-dir", args.data_dir,
                   "--child", str(report), repr(t0), "--"] + train
            done = subprocess.run(cmd, capture_output=True, text=True,
                                  env=dict(os.environ, PYTHONPATH=str(ROOT)))
            if done.returncode:
                raise SystemExit(f"Error: the run failed:\n{done.stderr[-3000:]}")
            m = json.loads(report.read_text())
            if i == 0 and not args.no_warm:
                continue  # the warm-up: fills Numba's cache
            f = _figures(m)
            f["dynamo"] = m["dynamo"]
            rows.append(f)
            print(f"run {len(rows)}: {_line(f)}; torch._dynamo imported: {m['dynamo']}",
                  flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "dynamo"}
    print(f"median of {len(rows)} ({args.algo}, --threads {args.threads}, load average "
          f"{os.getloadavg()[0]:.2f}): {_line(med)}")


if __name__ == "__main__":
    main()
