#!/bin/bash
# Slurm: one MPI rank per core. Resubmit (or requeue) the same script after a
# time limit: --resume finishes the run in the same file.
#SBATCH --job-name=deepresolve
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --output=deepresolve-%j.log
set -euo pipefail

# Adjust to your site's module names.
module load gcc openmpi hdf5 openblas 2>/dev/null || true

MODEL=${MODEL:-model.h5}
LAYER=${LAYER:-flatten}
OUT=${OUT:-deepresolve.h5}
BIN=${BIN:-$HOME/deepresolve-mpi/target/release/deepresolve-mpi}
export OPENBLAS_NUM_THREADS=1

resume=()
[ -e "$OUT" ] && resume=(--resume)
srun --cpu-bind=cores "$BIN" run --model "$MODEL" --layer "$LAYER" --out "$OUT" \
    --restarts 10 "${resume[@]}" "$@"
