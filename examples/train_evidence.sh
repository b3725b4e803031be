#!/usr/bin/env bash
# Evidence runs for the README's "Training through simulated hardware" section.
# Heavy (about 40 minutes on 2 cores): not part of the tests. Re-running skips finished runs.
#   DATA=/path/to/data bash examples/train_evidence.sh [fmnist|mnist|cifar10 ...]
# ONLY=REGEX runs only the runs whose name matches (e.g. ONLY='cwc|bp').
# DATA holds mnist/ and cifar10/; Fashion-MNIST is found in the Debian package's folder.
set -euo pipefail
DATA=${DATA:?set DATA to the folder holding mnist/ and cifar10/}
OUT=${OUT:-runs/evidence}
mkdir -p "$OUT"

run() {  # name, then pbitsim train options
  local name=$1; shift
  if [[ ! $name =~ ${ONLY:-.} ]]; then return; fi
  if [ -f "$OUT/$name/results.json" ]; then echo "skip $name (done)"; return; fi
  rm -rf "$OUT/$name"
  echo "== $name: pbitsim train $* --out $OUT/$name"
  /usr/bin/time -f "$name wall %e s, max RSS %M KiB" pbitsim train "$@" --out "$OUT/$name" \
    > "$OUT/$name.log" 2>&1 || { echo "FAILED $name (see $OUT/$name.log)"; return 1; }
  tail -n 3 "$OUT/$name.log"
}

# One budget for every algorithm of a dataset (same code, same images, same steps). The budgets
# are small because the index-and-accumulate kernels run at about 50 samples/s on 2 cores.
ffmnist_long() {  # BSFF M=7 vs CwC-FF at 3x the budget: 12,000 training images, 2 epochs
  local o=(--dataset fashion-mnist --epochs 2 --limit-train 12000 --limit-test 5000 --batch-size 64 --seed 0)
  run fmnist12k-cwc   --algo cwc "${o[@]}"
  run fmnist12k-bsff7 --algo bsff --tiles 7 "${o[@]}"
}

mnist() {  # 4,000 training images (seeded subset), 2 epochs, batch 64, 5,000 test images
  local o=(--dataset fashion-mnist --epochs 2 --limit-train 4000 --limit-test 5000 --batch-size 64 --seed 0)
  run fmnist-cwc    --algo cwc "${o[@]}"
  run fmnist-bp     --algo bp "${o[@]}"
  run fmnist-bsff7  --algo bsff --tiles 7 "${o[@]}"
  run fmnist-bsff1  --algo bsff --tiles 1 "${o[@]}"
  run fmnist-bgbsff7 --algo bgbsff --tiles 7 "${o[@]}"
}

fmnist_long() {  # BSFF M=7 vs CwC-FF at 3x the budget: 12,000 training images, 2 epochs
  local o=(--dataset fashion-mnist --epochs 2 --limit-train 12000 --limit-test 5000 --batch-size 64 --seed 0)
  run fmnist12k-cwc   --algo cwc "${o[@]}"
  run fmnist12k-bsff7 --algo bsff --tiles 7 "${o[@]}"
}

mnist() {  # 3,000 training images, 2 epochs, batch 64, 5,000 test images
  local o=(--dataset mnist --data-dir "$DATA/mnist" --epochs 2 --limit-train 3000 --limit-test 5000 --batch-size 64 --seed 0)
  run mnist-cwc    --algo cwc "${o[@]}"
  run mnist-bp     --algo bp "${o[@]}"
  run mnist-bsff7  --algo bsff --tiles 7 "${o[@]}"
  run mnist-bsff1  --algo bsff --tiles 1 "${o[@]}"
  run mnist-bgbsff7 --algo bgbsff --tiles 7 "${o[@]}"
}

cifar10() {  # 3,000 training images, 2 epochs, batch 64, 3,000 test images: M=1 vs M=7
  local o=(--dataset cifar10 --data-dir "$DATA/cifar10" --epochs 2 --limit-train 3000 --limit-test 3000 --batch-size 64 --seed 0)
  run cifar10-cwc   --algo cwc "${o[@]}"
  run cifar10-bsff7 --algo bsff --tiles 7 "${o[@]}"
  run cifar10-bsff1 --algo bsff --tiles 1 "${o[@]}"
}

for part in "${@:-fmnist mnist cifar10}"; do
  for p in $part; do "$p"; done
done
