#!/usr/bin/env bash
# Many small models: one `run --models` job against one `run` per model, same
# machine, same options, RANKS ranks (default 2). (That the files are equal
# is tests/multi_model.rs's business.)
#
#   jobs/bench_models.sh [MODELS_DIR]   # default: the authors' 422 TF models
set -euo pipefail
cd "$(dirname "$0")/.."
models=${1:-../shared/fixtures/keras1-deepresolve-422tf/all}
. jobs/setup.sh
cargo build --release -q
bin=target/release/deepresolve-mpi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
list="$out/models.txt"
for d in "$models"/*/; do
    [ -f "$d/16_G_best_archit.json" ] || continue
    echo "$d/16_G_best_archit.json $(basename "$d") $d/16_G_bestmodel_weights.h5" >> "$list"
done
n=$(wc -l < "$list")
opts=(--layer 2 --restarts 10 --quiet)
mpi=(mpirun -n "${RANKS:-2}" --oversubscribe)
t0=$(date +%s.%N)
"${mpi[@]}" "$bin" run --models "$list" --out-dir "$out/one" "${opts[@]}"
t1=$(date +%s.%N)
mkdir -p "$out/each"
while read -r arch e weights; do
    "${mpi[@]}" "$bin" run --model "$arch" --weights "$weights" --out "$out/each/$e.h5" "${opts[@]}" < /dev/null
done < "$list"
t2=$(date +%s.%N)
awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    printf "models=%d one_job_s=%.1f separate_runs_s=%.1f speedup=%.1f\n", n, b - a, c - b, (c - b) / (b - a) }'
