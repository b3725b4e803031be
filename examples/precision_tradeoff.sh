#!/bin/sh
# The README's fixed-point trade-off: BSFF M=7 on MNIST and Fashion-MNIST (cfse-mnist net) at
# fp32 / 16 / 8 / 4-bit weights (32-bit accumulators), then 8-bit weights with the accumulator
# narrowed to 24, 20, 16, 12 and 10 bits. An affordable budget on a shared machine: a seeded subset of
# LIMIT training images (default 1000), one epoch, batch 32, the first 1000 test images.
#
#     DATA=/path/to/data sh examples/precision_tradeoff.sh OUT_DIR [LIMIT]
#
# DATA holds mnist/; Fashion-MNIST is found in the Debian package's folder.
#     python examples/precision_table.py OUT_DIR     # the README's table
set -e
OUT=${1:?usage: precision_tradeoff.sh OUT_DIR [LIMIT]}
LIMIT=${2:-1000}
DATA=${DATA:?set DATA to the folder holding mnist/}
for D in mnist fashion-mnist; do
  for P in fp32 w16a32 w8a32 w4a32 w8a24 w8a20 w8a16 w8a12 w8a10; do
    case $P in
      fp32) OPTS="" ;;
      *) W=${P#w}; W=${W%a*}; A=${P#*a}; OPTS="--weight-bits $W --acc-bits $A" ;;
    esac
    [ "$D" = mnist ] && OPTS="$OPTS --data-dir $DATA/mnist"
    [ -f "$OUT/$D-$P/results.json" ] && continue
    python -m pbitsim train --algo bsff --tiles 7 --dataset "$D" --epochs 1 --batch-size 32 \
      --limit-train "$LIMIT" --limit-test 1000 --seed 0 $OPTS --out "$OUT/$D-$P" > /dev/null
    echo "$D $P done"
  done
done
