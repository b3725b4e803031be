#!/usr/bin/env bash
# Evidence for the hardware-exploration section of the README (heavy: not part of the tests).
#   DATA=/path/to/data bash examples/sweep_evidence.sh [tiles|devices ...]
# DATA holds mnist/ and cifar10/. Every sweep resumes where it stopped: run it again after a
# Ctrl-C (or a crash) and finished configurations are read back, not retrained. The README's
# sweeps were measured on the earlier ungrouped ConvNet (--arch cwc-mnist).
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding mnist/ and cifar10/}
OUT=${OUT:-runs}

tiles() {  # accuracy vs energy vs p-bits over M on MNIST: 5 tile counts x 2 seeds
  pbitsim sweep --tiles 1,2,4,7,10 --seeds 0,1 --dataset mnist --data-dir "$DATA/mnist" \
    --limit-train 10000 --limit-test 5000 --epochs 1 --arch cwc-mnist \
    --out "$OUT/sweep-mnist-tiles"
}

devices() {  # how device variation, faults and a digital p-bit's precision degrade accuracy (M=7)
  pbitsim sweep --tiles 7 --seeds 0 --dataset mnist --data-dir "$DATA/mnist" \
    --limit-train 5000 --limit-test 5000 --epochs 1 --arch cwc-mnist \
    --out "$OUT/sweep-mnist-devices" \
    --device ideal,digital,digital:lut_width=4,digital:int_bits=2,frac_bits=1,lut_depth=16 \
    --device smtj:offset_sd=0.5,smtj:offset_sd=1,smtj:slope_sd=0.5 \
    --device smtj:stuck_rate=0.05,smtj:stuck_rate=0.2
}

for part in "${@:-tiles devices}"; do
  for p in $part; do "$p"; done
done
