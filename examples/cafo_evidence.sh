#!/usr/bin/env bash
# CaFo evidence at an affordable budget (2 shared cores): Rand-CE, DFA-CE and DFA-CE on tiled
# p-bit units (M = 7), greedy schedule (the seeds'), on seeded subsets of MNIST and
# Fashion-MNIST. Budgets are far below the seeds' (full data, up to 500 / 12 / 85 epochs per
# predictor, 5 / 15 DFA block epochs); the README table states them beside the seeds' numbers.
# Usage: examples/cafo_evidence.sh OUT_DIR   (PYTHONPATH must point at this checkout)
set -euo pipefail
OUT=${1:-runs/cafo-evidence}
MNIST=${MNIST_DIR:-/work/shared/data/mnist}
FMNIST=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
train() { nice -n 5 python -m pbitsim.cli.main train --threads 2 --limit-test 5000 "$@"; }
for ds in mnist fashion-mnist; do
  dir=$MNIST; [ "$ds" = fashion-mnist ] && dir=$FMNIST
  train --algo cafo-rand --dataset $ds --data-dir $dir --limit-train 10000 --epochs 3 \
        --out $OUT/$ds-rand
  train --algo cafo-dfa --dataset $ds --data-dir $dir --limit-train 10000 --epochs 3 \
        --dfa-epochs 2 --out $OUT/$ds-dfa
  train --algo cafo-dfa --tiles 7 --dataset $ds --data-dir $dir --limit-train 5000 --epochs 2 \
        --dfa-epochs 1 --out $OUT/$ds-dfa-m7
done
# One epoch of every stage on the full training set (54,000 after the held-out 10%), full test
# set: the wall time per epoch from which the seeds' budgets are extrapolated.
if [ "${FULL:-0}" = 1 ]; then
  nice -n 5 python -m pbitsim.cli.main train --threads 2 --algo cafo-dfa --dataset mnist \
    --data-dir $MNIST --epochs 1 --dfa-epochs 1 --out $OUT/mnist-dfa-full1
fi
