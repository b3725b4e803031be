#!/usr/bin/env bash
# CaFo evidence at an affordable budget (2 shared cores): Rand-CE, DFA-CE and DFA-CE on tiled
# p-bit units (M = 7), greedy schedule (the seeds'), on seeded subsets of MNIST and
# Fashion-MNIST. Budgets are far below the seeds' (full data, up to 500 / 12 / 85 epochs per
# predictor, 5 / 15 DFA block epochs); the README table states them beside the seeds' numbers.
# Usage: examples/cafo_evidence.sh OUT_DIR   (PYTHONPATH must point at this checkout)
#   SMALL=0 skips the small budgets, FULL=1 adds one epoch of every stage on all of MNIST,
#   SEEDS=1 the seeds' budgets (below; THREADS sets --threads there, default 2; ONLY=REGEX
#   picks runs by name).
set -euo pipefail
OUT=${1:-runs/cafo-evidence}
MNIST=${MNIST_DIR:-../shared/data/mnist}
FMNIST=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
CIFAR=${CIFAR_DIR:-../shared/data/cifar10}
train() { nice -n 5 python -m pbitsim.cli.main train --threads 2 --limit-test 5000 "$@"; }
if [ "${SMALL:-1}" = 1 ]; then  # SMALL=0 skips the small budgets
for ds in mnist fashion-mnist; do
  dir=$MNIST; [ "$ds" = fashion-mnist ] && dir=$FMNIST
  train --algo cafo-rand --dataset $ds --data-dir $dir --limit-train 10000 --epochs 3 \
        --out $OUT/$ds-rand
  train --algo cafo-dfa --dataset $ds --data-dir $dir --limit-train 10000 --epochs 3 \
        --dfa-epochs 2 --out $OUT/$ds-dfa
  train --algo cafo-dfa --tiles 7 --dataset $ds --data-dir $dir --limit-train 5000 --epochs 2 \
        --dfa-epochs 1 --out $OUT/$ds-dfa-m7
done
fi
# One epoch of every stage on the full training sets (54,000 after the held-out 10%), full test
# sets: DFA-CE real and on 7-tile p-bit units (bscafo-dfa) at the same budget.
if [ "${FULL:-0}" = 1 ]; then
  for ds in mnist fashion-mnist; do
    dir=$MNIST; [ "$ds" = fashion-mnist ] && dir=$FMNIST
    for tiles in "" "--tiles 7"; do
      name=$ds-dfa${tiles:+-m7}-full1
      nice -n 5 python -m pbitsim.cli.main train --threads "${THREADS:-2}" --algo cafo-dfa \
        $tiles --dataset $ds --data-dir $dir --epochs 1 --dfa-epochs 1 --out $OUT/$name
    done
  done
fi
# The seeds' budgets on the full training sets (54,000 after the held-out 10%), full test sets:
# per-predictor caps 500 (Rand-CE) and 12 / 85 (DFA-CE, MNIST / F-MNIST) with early stopping
# (patience 10), the seeds' DFA block epochs (5 / 15). Real-valued predictor stages read the
# frozen blocks from the per-stage cache (pbitsim.training.frozen): an epoch is about a second
# after the stage's first; DFA's block epochs dominate (about 12 minutes each on 2 threads).
# Interrupted runs continue with --resume.
if [ "${SEEDS:-0}" = 1 ]; then
  full() {  # name, then options; ONLY=REGEX runs the matching names only
    local name=$1; shift
    [[ $name =~ ${ONLY:-.} ]] || return 0
    [ -f "$OUT/$name/results.json" ] && { echo "skip $name (done)"; return; }
    local resume=(); [ -f "$OUT/$name/checkpoint.pt" ] && resume=(--resume)
    nice -n 5 python -m pbitsim.cli.main train --threads "${THREADS:-2}" "$@" "${resume[@]}" \
      --out "$OUT/$name" > "$OUT/$name.log" 2>&1 || echo "FAILED $name (see $OUT/$name.log)"
    tail -n 4 "$OUT/$name.log"
  }
  mkdir -p "$OUT"
  full mnist-rand-seeds --algo cafo-rand --dataset mnist --data-dir $MNIST --epochs 500
  full fmnist-rand-seeds --algo cafo-rand --dataset fashion-mnist --data-dir $FMNIST --epochs 500
  full mnist-dfa-seeds --algo cafo-dfa --dataset mnist --data-dir $MNIST --epochs 12
  full fmnist-dfa-seeds --algo cafo-dfa --dataset fashion-mnist --data-dir $FMNIST --epochs 85
  # CIFAR-10: Rand-CE at the cap of 500; DFA-CE with 5 block epochs of the seeds' 250
  full cifar10-rand --algo cafo-rand --dataset cifar10 --data-dir $CIFAR --epochs 500
  full cifar10-dfa5 --algo cafo-dfa --dataset cifar10 --data-dir $CIFAR --dfa-epochs 5 \
    --epochs 100
fi
