#!/usr/bin/env bash
# The main job on the bundled example: the paper's synthetic dataset II model
# (4 classes: GATA+CAGATG, TCAT+CAGATG, GATA+TCAT, CGCTTG; a real Keras 3 CNN),
# DeepResolve on the input of its Flatten layer, 2 MPI ranks, then the pictures.
set -euo pipefail
cd "$(dirname "$0")/.."
. jobs/setup.sh
cargo build --release
bin=target/release/deepresolve-mpi
model=tests/fixtures/synthetic/dataset2.h5
mkdir -p results
$bin inspect "$model"
mpirun -n 2 --oversubscribe "$bin" run --model "$model" --layer flatten \
    --class-names tests/fixtures/synthetic/dataset2_classes.txt \
    --out results/demo.h5 --restarts 20 --overwrite
$bin plot results/demo.h5 --out results/demo-plots
$bin diff results/demo.h5 0 3 --top 5
echo
echo "results: $(pwd)/results/demo.h5"
echo "figures: $(pwd)/results/demo-plots/"
