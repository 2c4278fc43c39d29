#!/usr/bin/env bash
# Rank 0's serving rate (not a test): a job of tiny lanes (one item of a
# tiny model, one or two steps each), so each rank asks rank 0 for a lane
# and hands back its results almost at once, and the job's pace is how many
# lane requests (deal + receive + write + flush) rank 0 serves per second.
# Prints lanes/s per rank count; oversubscribed ranks share the cores.
# Environment: RANKS (default "2 8 32"), RESTARTS (items per class, 4 classes; default 256),
# BIN (default target/release/deepresolve-mpi), OUT_DIR (default a temp dir: put it on the
# file system a real job writes to, since the per-lane write is part of the figure).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/deepresolve-mpi}
model=tests/fixtures/synthetic/dataset2.h5
out=${OUT_DIR:-$(mktemp -d)}
restarts=${RESTARTS:-256}
for n in ${RANKS:-2 8 32}; do
    log=$(mpirun -n "$n" --oversubscribe "$bin" run --model "$model" --layer out \
        --out "$out/serve$n.h5" --restarts "$restarts" --max-steps 1 --lane 1 --batch 1 \
        --overwrite 2>&1)
    # "done: N items, M item-steps in T s = …": one lane per item here.
    line=$(grep '^done:' <<<"$log")
    items=$(sed -E 's/^done: ([0-9]+) items.*/\1/' <<<"$line")
    secs=$(sed -E 's/.* in ([0-9.]+) s = .*/\1/' <<<"$line")
    printf 'ranks=%d lanes=%d ascent_s=%.2f lanes_per_s=%.0f\n' "$n" "$items" "$secs" \
        "$(echo "$items / $secs" | bc -l)"
    rm -f "$out/serve$n.h5"
done
