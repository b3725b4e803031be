#!/bin/bash
# Evidence for README "Mono-Forward ... and Scalable FF" (issue 12): MF at the seeds' full
# budgets, MF on 7-tile p-bit units beside the real-valued form, SFF on CIFAR-10 beside CwC-FF
# and BP on the same images and epochs. Usage: examples/sff_evidence.sh PART OUT_DIR
# (PART: mf-full | mf-tiles | mf-tiles-full | mf-cifar | cifar). Heavy: run niced on a shared machine.
set -euo pipefail
part=$1; out=$2
MNIST=${MNIST:-../shared/data/mnist}; FMNIST=${FMNIST:-/usr/share/datasets/fashion-mnist}
CIFAR=${CIFAR:-../shared/data/cifar10}
P="python -m pbitsim.cli.main train --seed 0"
case $part in
mf-full)  # the seeds' budgets: greedy, per-layer epoch cap, early stopping (patience 5 / 10)
  $P --algo mf --arch mf-mlp-2x1000 --dataset mnist --data-dir "$MNIST" --epochs 14 \
     --lr 1.570e-3 --out "$out/mf-mnist-full"
  $P --algo mf --arch mf-mlp-2x1000 --dataset fashion-mnist --data-dir "$FMNIST" --epochs 12 \
     --lr 3.873e-4 --out "$out/mf-fmnist-full" ;;
mf-tiles)  # 10,000 images (9,000 + 1,000 held out), greedy with a cap of 3 epochs per layer
  for ds in mnist fashion-mnist; do
    dir=$MNIST; [ $ds = fashion-mnist ] && dir=$FMNIST
    lr=1.570e-3; [ $ds = fashion-mnist ] && lr=3.873e-4
    $P --algo mf --arch mf-mlp-2x1000 --dataset $ds --data-dir "$dir" --limit-train 10000 \
       --epochs 3 --lr $lr --out "$out/mf-$ds-10k"
    $P --algo mf --tiles 7 --arch mf-mlp-2x1000 --dataset $ds --data-dir "$dir" \
       --limit-train 10000 --epochs 3 --out "$out/mf-m7-$ds-10k"
  done ;;
mf-tiles-full)  # MF on 7-tile p-bit units at the seeds' budgets (bsmf's default lr 0.01)
  $P --algo mf --tiles 7 --arch mf-mlp-2x1000 --dataset mnist --data-dir "$MNIST" --epochs 14 \
     --out "$out/mf-m7-mnist-full"
  $P --algo mf --tiles 7 --arch mf-mlp-2x1000 --dataset fashion-mnist --data-dir "$FMNIST" \
     --epochs 12 --out "$out/mf-m7-fmnist-full" ;;
mf-cifar)  # MF 3x2000 on all of CIFAR-10 at the seeds' budget (cap 15 per layer, patience 4)
  $P --algo mf --arch mf-mlp-3x2000 --dataset cifar10 --data-dir "$CIFAR" --epochs 15 \
     --lr 3.242e-4 --out "$out/mf-cifar10-full"
  $P --algo mf --arch mf-mlp-3x2000 --dataset cifar10 --data-dir "$CIFAR" --epochs 15 \
     --lr 3.242e-4 --schedule online --out "$out/mf-cifar10-online15" ;;
cifar)  # the same 10,000 CIFAR-10 images (seeded subset), 3 epochs, the full test set
  B="--dataset cifar10 --data-dir $CIFAR --limit-train 10000 --epochs 3"
  $P --algo sff --arch sff-cnn-cifar10 $B --out "$out/sff-cifar10"
  $P --algo bp --arch sff-cnn-cifar10 $B --out "$out/bp-sff-cnn-cifar10"
  $P --algo cwc --arch cfse-cifar10 $B --out "$out/cwc-cfse-cifar10"
  $P --algo sff --tiles 7 --arch sff-cnn-cifar10 $B --out "$out/sff-m7-cifar10" ;;
*) echo "unknown part $part" >&2; exit 2 ;;
esac
