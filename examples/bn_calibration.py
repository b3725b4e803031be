"""Test accuracy with the running batch-norm statistics of training, then after the calibration.

Trains one run as ``pbitsim train`` does (the same weights, counts and files), but tests it
twice: first with the running statistics the training steps left (what ``pbitsim train`` reported
before the calibration pass), then, after the calibration at the final weights, as ``pbitsim
train`` reports it now. Prints both and writes ``OUT/before_calibration.json``.

    python examples/bn_calibration.py --out runs/bn/mnist-cwc-ref -- --algo cwc \\
        --arch cfse-mnist --dataset mnist --data-dir DATA/mnist --epochs 1 --batch-size 128 \\
        --seed 0 --schedule reference

The options after ``--`` are ``pbitsim train``'s (the training ones; not ``--out``).

``--reference-pass``: an experiment, not a pbitsim rule: after every training step, run the
CwC-FF reference's prediction pass on the same batch in training mode (``model.predict`` in its
``main_train.py``: every block and the head, no update), so the running statistics are also
updated at the updated weights, as the reference keeps them. Its work is counted with the
training counts, but ``pbitsim estimate`` does not model it (the counts file of such a run
does not match the estimate).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pbitsim  # noqa: F401  (before torch: passive OpenMP workers, see pbitsim/__init__)
import torch
from pbitsim import runfiles
from pbitsim.datasets import load_dataset
from pbitsim.training import TrainConfig, Trainer

TRAIN_OPTIONS = {"algo": str, "arch": str, "dataset": str, "epochs": int, "batch_size": int,
                 "seed": int, "schedule": str, "tiles": int, "limit_train": int,
                 "limit_test": int, "threads": int, "calibration_samples": int, "lr": float}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--reference-pass", action="store_true",
                    help="the CwC-FF reference's second (prediction) pass after every step")
    ap.add_argument("train", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    opts = [a for a in args.train if a != "--"]
    cfg_kw, data_dir = {}, None
    for flag, value in zip(opts[::2], opts[1::2]):
        key = flag.lstrip("-").replace("-", "_")
        if key == "data_dir":
            data_dir = value
        elif key in TRAIN_OPTIONS:
            cfg_kw[key] = TRAIN_OPTIONS[key](value)
        else:
            raise SystemExit(f"unsupported option {flag}")
    cfg = TrainConfig(**cfg_kw).validate()
    data = load_dataset(cfg.dataset, data_dir)
    trainer = Trainer(cfg, data, args.out)
    if args.reference_pass:
        step = trainer.algo.train_step

        def step_and_pass(x, y, seed_key, frac, **kw):
            out = step(x, y, seed_key, frac, **kw)
            with torch.no_grad():  # the reference's model.predict(x) in training mode
                trainer.algo.model.train()
                trainer.algo.model(x, (*seed_key, 1))
            return out

        trainer.algo.train_step = step_and_pass
    with runfiles.out_lock(args.out):
        if (args.out / runfiles.CHECKPOINT).exists():
            trainer.load_checkpoint()
        t0 = time.perf_counter()
        trainer.fit()
        train_s = time.perf_counter() - t0
        if trainer.calibrated:
            raise SystemExit(f"{args.out} was calibrated already: start from an empty folder")
        before, _ = trainer.evaluate()
        trainer.calibrate()
        t0 = time.perf_counter()
        after, inference = trainer.evaluate()
        results = trainer.write_results(after, inference, time.perf_counter() - t0)
    doc = {"reference_pass": args.reference_pass, "running_statistics": before, "calibrated": after,
           "calibration_samples": trainer.calibration_samples, "train_s": train_s,
           "train_pj_per_sample": results["energy"].get("train_pj_per_sample")}
    (args.out / "before_calibration.json").write_text(json.dumps(doc, indent=2) + "\n")
    for k in after:
        print(f"{k}: {before[k]:.2%} (running statistics) -> {after[k]:.2%} (calibrated)")


if __name__ == "__main__":
    main()
