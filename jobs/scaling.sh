#!/usr/bin/env bash
# Scaling benchmark (not a test): the same job at N = 1 and 2 ranks (more with
# RANKS="1 2 4 8"), wall time and parallel efficiency T1 / (N · TN).
# Environment: MODEL, LAYER, CLASSES, RESTARTS, MAX_STEPS, LANE, BATCH, RANKS.
# On the DeepSEA-shaped network:
#   target/release/deepresolve-mpi bench --save-model /tmp/ds.h5 --batch 1 --steps 1
#   MODEL=/tmp/ds.h5 LAYER=0 CLASSES=0-7 RESTARTS=8 MAX_STEPS=60 LANE=16 BATCH=8 bash jobs/scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. jobs/setup.sh
cargo build --release
bin=target/release/deepresolve-mpi
model=${MODEL:-tests/fixtures/synthetic/dataset2.h5}
layer=${LAYER:-flatten}
ranks=${RANKS:-1 2}
out=$(mktemp -d)
t1=
for n in $ranks; do
    s=$(date +%s.%N)
    mpirun -n "$n" --oversubscribe "$bin" run --model "$model" --layer "$layer" \
        --out "$out/r$n.h5" --classes "${CLASSES:-all}" --restarts "${RESTARTS:-64}" \
        --max-steps "${MAX_STEPS:-10000}" --lane "${LANE:-8}" --batch "${BATCH:-8}" --quiet
    e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    [ -z "$t1" ] && t1=$t
    eff=$(echo "$t1 / ($n * $t)" | bc -l)
    printf 'ranks=%d wall_s=%.2f efficiency=%.2f\n' "$n" "$t" "$eff"
done
rm -rf "$out"
