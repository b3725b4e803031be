#!/usr/bin/env bash
# One sweep grid trained with --jobs 1 and with --scheduler local:N: wall times, their ratio,
# and a check that both found the same numbers (accuracy, energies, density of every point).
#
#   DATA=../shared/data N=2 bash benchmarks/bench_sweep_cluster.sh [extra sweep options]
#
# Default grid: the README's M sweep reduced to one seed and 2,000 / 1,000 images (5 points).
# Needs the cluster extra (pip install 'pbitsim[cluster]'). Outputs in ${OUT:-runs/bench-sweep}.
set -euo pipefail
DATA=${DATA:-../shared/data}
N=${N:-2}
OUT=${OUT:-runs/bench-sweep}
GRID=(--tiles 1,2,4,7,10 --seeds 0 --dataset mnist --data-dir "$DATA/mnist"
      --limit-train 2000 --limit-test 1000 --epochs 1 --no-plots "$@")
declare -A WALL
mkdir -p "$OUT"
for mode in jobs1 "local$N"; do
  rm -rf "${OUT:?}/$mode"
  if [ "$mode" = jobs1 ]; then extra=(--jobs 1); else extra=(--scheduler "local:$N"); fi
  start=$(date +%s.%N)
  python3 -m pbitsim sweep "${GRID[@]}" --out "$OUT/$mode" "${extra[@]}" > "$OUT/$mode.log" 2>&1
  WALL[$mode]=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
  echo "$mode: ${WALL[$mode]} s (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
done
python3 - "$OUT/jobs1/sweep.json" "$OUT/local$N/sweep.json" <<'PY'
import json, sys
keep = ("run", "accuracy", "energy_train_pj_per_sample", "energy_inference_pj",
        "activation_density")
a, b = ([{k: r[k] for k in keep} for r in json.load(open(f))["runs"]]
        for f in sys.argv[1:])
print("same numbers:", a == b)
PY
python3 -c "print('wall ratio jobs1 / local$N: %.2f' % (${WALL[jobs1]} / ${WALL[local$N]}))"
