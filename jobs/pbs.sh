#!/bin/bash
# PBS / Torque: one MPI rank per core; resubmit after a walltime kill and
# --resume carries on in the same file.
#PBS -N deepresolve
#PBS -l select=2:ncpus=32:mpiprocs=32
#PBS -l walltime=24:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"

module load gcc openmpi hdf5 openblas 2>/dev/null || true

MODEL=${MODEL:-model.h5}
LAYER=${LAYER:-flatten}
OUT=${OUT:-deepresolve.h5}
BIN=${BIN:-$HOME/deepresolve-mpi/target/release/deepresolve-mpi}
NP=$(wc -l < "$PBS_NODEFILE")

resume=()
[ -e "$OUT" ] && resume=(--resume)
mpirun -np "$NP" -x OPENBLAS_NUM_THREADS=1 --map-by core --bind-to core \
    "$BIN" run --model "$MODEL" --layer "$LAYER" --out "$OUT" --restarts 10 "${resume[@]}"
