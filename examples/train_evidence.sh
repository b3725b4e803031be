#!/usr/bin/env bash
# Evidence runs for the README's "Training through simulated hardware" section (heavy: not tests).
#   DATA=/path/to/data bash examples/train_evidence.sh [fmnist fmnist_long mnist cifar10 ...]
# Parts: fmnist, fmnist_long, mnist, cifar10 (small budgets, 5-15 minutes each on 2 cores)
# (and mnist_cfse, fmnist_cfse, fmnist_full_cfse: the reference's CFSE net, see below)
# and fmnist_full (2 epochs), mnist_full (1 epoch) on the full training sets (about 30-50 minutes
# each on 2 cores); fmnist_full4: the same on 60,000 x 4 epochs (about 100 minutes).
# ONLY=REGEX runs only the runs whose name matches (e.g. ONLY='cwc|bsff7'). Re-running skips
# finished runs. The parts above train pbitsim's earlier ungrouped ConvNet (cwc-mnist,
# cwc-cifar10) the README's tables were measured on; mnist_cfse, fmnist_cfse and
# fmnist_full_cfse train the CwC-FF reference's CFSE net (cfse-mnist, the default) beside it. DATA holds mnist/ and cifar10/; Fashion-MNIST is found in the Debian package's
# folder (/usr/share/datasets/fashion-mnist).
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding mnist/ and cifar10/}
OUT=${OUT:-runs/evidence}
mkdir -p "$OUT"

run() {  # name, then pbitsim train options
  local name=$1; shift
  if [[ ! $name =~ ${ONLY:-.} ]]; then return; fi
  if [ -f "$OUT/$name/results.json" ]; then echo "skip $name (done)"; return; fi
  local resume=()  # an interrupted run continues from its last epoch checkpoint
  if [ -f "$OUT/$name/checkpoint.pt" ]; then resume=(--resume); fi
  echo "== $name: pbitsim train $* --out $OUT/$name"
  /usr/bin/time -f "$name wall %e s, max RSS %M KiB" pbitsim train "$@" "${resume[@]}" --out "$OUT/$name" \
    > "$OUT/$name.log" 2>&1 || { echo "FAILED $name (see $OUT/$name.log)"; return 1; }
  tail -n 3 "$OUT/$name.log"
}

reeval() {  # name of a finished run, K, then its pbitsim train options: test it with K passes
  local src=$1 k=$2; shift 2
  local name="$src-k$k"
  if [[ ! $name =~ ${ONLY:-.} ]]; then return; fi
  if [ -f "$OUT/$name/results.json" ]; then echo "skip $name (done)"; return; fi
  if [ ! -f "$OUT/$src/results.json" ]; then echo "skip $name ($src not finished)"; return; fi
  rm -rf "$OUT/$name"
  cp -r "$OUT/$src" "$OUT/$name"
  rm "$OUT/$name/results.json"
  echo "== $name: $src re-evaluated with --eval-samples $k"
  pbitsim train "$@" --eval-samples "$k" --resume --out "$OUT/$name" > "$OUT/$name.log" 2>&1 \
    || { echo "FAILED $name (see $OUT/$name.log)"; return 1; }
  tail -n 3 "$OUT/$name.log"
}

# One budget for every algorithm of a dataset (same code, same seeded images, same steps).
all_algos() {  # prefix, then the shared options
  local p=$1; shift
  run "$p-cwc"     --algo cwc "$@"
  run "$p-bp"      --algo bp "$@"
  run "$p-bsff7"   --algo bsff --tiles 7 "$@"
  reeval "$p-bsff7" 2 --algo bsff --tiles 7 "$@"
  reeval "$p-bsff7" 4 --algo bsff --tiles 7 "$@"
  run "$p-bsff1"   --algo bsff --tiles 1 "$@"
  run "$p-bgbsff7" --algo bgbsff --tiles 7 "$@"
}

fmnist() {  # 4,000 training images (seeded subset), 2 epochs, 5,000 test images
  all_algos fmnist --dataset fashion-mnist --epochs 2 --limit-train 4000 --limit-test 5000 \
    --batch-size 64 --seed 0 --arch cwc-mnist
}

fmnist_long() {  # BSFF M=7 vs CwC-FF at 3x the budget
  local o=(--dataset fashion-mnist --epochs 2 --limit-train 12000 --limit-test 5000
           --batch-size 64 --seed 0 --arch cwc-mnist)
  run fmnist12k-cwc   --algo cwc "${o[@]}"
  run fmnist12k-bsff7 --algo bsff --tiles 7 "${o[@]}"
}

mnist() {  # 3,000 training images, 2 epochs, 5,000 test images
  all_algos mnist --dataset mnist --data-dir "$DATA/mnist" --epochs 2 --limit-train 3000 \
    --limit-test 5000 --batch-size 64 --seed 0 --arch cwc-mnist
}

cifar10() {  # 10,000 training images, 2 epochs, 5,000 test images: M=1 vs M=7 vs CwC-FF
  local o=(--dataset cifar10 --data-dir "$DATA/cifar10" --epochs 2 --limit-train 10000
           --limit-test 5000 --batch-size 64 --seed 0 --arch cwc-cifar10)
  run cifar10-cwc   --algo cwc "${o[@]}"
  run cifar10-bsff7 --algo bsff --tiles 7 "${o[@]}"
  run cifar10-bsff1 --algo bsff --tiles 1 "${o[@]}"
}

fmnist_full() {  # all 60,000 training images, 2 epochs, all 10,000 test images
  all_algos fmnist-full --dataset fashion-mnist --epochs 2 --batch-size 64 --seed 0 \
    --arch cwc-mnist
}

fmnist_full4() {  # the fmnist_full table at twice the budget: 60,000 x 4 epochs
  all_algos fmnist-full4 --dataset fashion-mnist --epochs 4 --batch-size 64 --seed 0 \
    --arch cwc-mnist
}

mnist_full() {  # all 60,000 training images, 1 epoch, all 10,000 test images
  all_algos mnist-full --dataset mnist --data-dir "$DATA/mnist" --epochs 1 --batch-size 64 \
    --seed 0 --arch cwc-mnist
}

# The CwC-FF reference's CFSE net (grouped convs 2 and 4, pools after them), CwC-FF vs BSFF M=7.
cfse_pair() {  # prefix, then the shared options
  local p=$1; shift
  run "$p-cwc"   --algo cwc --arch cfse-mnist "$@"
  run "$p-bsff7" --algo bsff --tiles 7 --arch cfse-mnist "$@"
}

mnist_cfse() {  # all 60,000 MNIST training images, 1 epoch, all 10,000 test images
  cfse_pair cfse-mnist-full --dataset mnist --data-dir "$DATA/mnist" --epochs 1 \
    --batch-size 64 --seed 0
}

fmnist_cfse() {  # the fmnist budget (4,000 images x 2 epochs) on the CFSE net
  cfse_pair cfse-fmnist --dataset fashion-mnist --epochs 2 --limit-train 4000 \
    --limit-test 5000 --batch-size 64 --seed 0
}

fmnist_full_cfse() {  # all 60,000 Fashion-MNIST images, 2 epochs, on the CFSE net
  cfse_pair cfse-fmnist-full --dataset fashion-mnist --epochs 2 --batch-size 64 --seed 0
}

fmnist_full10_cfse() {  # all 60,000 Fashion-MNIST images x 10 epochs on the CFSE net: CwC-FF vs BSFF M=7
  # vs BGBSFF M=7 (issue 13's budget; one thread each, so two can share the 2 cores)
  local o=(--arch cfse-mnist --dataset fashion-mnist --epochs 10 --batch-size 64 --seed 0 --threads 1)
  run cfse-fmnist-full10-cwc     --algo cwc "${o[@]}"
  run cfse-fmnist-full10-bsff7   --algo bsff --tiles 7 "${o[@]}"
  run cfse-fmnist-full10-bgbsff7 --algo bgbsff --tiles 7 "${o[@]}"
}

for part in ${@:-fmnist fmnist_long mnist cifar10}; do
  "$part"
done
