#!/bin/bash
# PBS / Torque: one MPI rank per core. Options after the script name (qsub
# -F "--restarts 20" jobs/pbs.sh, or bash jobs/pbs.sh --restarts 20 inside a
# job) are options of the command CMD (run, the default; calibrate or channels,
# which need FASTA=...) and win over the defaults below. Resubmit after a
# walltime kill: --resume carries on in the same file. At the walltime PBS
# sends SIGTERM; the ranks stop at the next step and say that --resume finishes
# (calibrate writes no file and has no --resume: resubmit reruns it).
#PBS -N deepresolve
#PBS -l select=2:ncpus=32:mpiprocs=32
#PBS -l walltime=24:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"

module load gcc openmpi hdf5 openblas 2>/dev/null || true

# CMD picks the subcommand: run (the default), calibrate or channels.
CMD=${CMD:-run}
case $CMD in
run | calibrate | channels) ;;
*)
    echo "pbs.sh: CMD=$CMD is not a command this script launches: set CMD=run, CMD=calibrate or CMD=channels." >&2
    exit 2
    ;;
esac
MODEL=${MODEL:-model.h5}
LAYER=${LAYER:-flatten}
if [ "$CMD" = channels ]; then OUT=${OUT:-channels.h5}; else OUT=${OUT:-deepresolve.h5}; fi
RESTARTS=${RESTARTS:-10}
FASTA=${FASTA:-}
BIN=${BIN:-$HOME/deepresolve-mpi/target/release/deepresolve-mpi}
if [ ! -x "$BIN" ] || [ -d "$BIN" ]; then
    echo "pbs.sh: BIN=$BIN is not the deepresolve-mpi binary (no executable file there)." >&2
    echo "    Build it with: cargo build --release   (it is then target/release/deepresolve-mpi)" >&2
    echo "    and pass its path: BIN=/path/to/target/release/deepresolve-mpi qsub ... -V jobs/pbs.sh" >&2
    exit 2
fi
NP=$(wc -l < "$PBS_NODEFILE")

# The user's options win: a default is added only for an option not given.
user=("$@")
given() {
    local a
    for a in ${user[@]+"${user[@]}"}; do
        case $a in "$1" | "$1"=*) return 0 ;; esac
    done
    return 1
}
value_of() {
    local i
    for ((i = 0; i < ${#user[@]}; i++)); do
        case ${user[i]} in
        "$1") echo "${user[i + 1]:-}" && return ;;
        "$1"=*) echo "${user[i]#*=}" && return ;;
        esac
    done
}
opts=()
given --model || opts+=(--model "$MODEL")
given --layer || opts+=(--layer "$LAYER")
if [ "$CMD" != run ] && ! given --fasta; then
    if [ -z "$FASTA" ]; then
        echo "pbs.sh: CMD=$CMD needs sequences: set FASTA=seqs.fa or pass --fasta seqs.fa." >&2
        exit 2
    fi
    opts+=(--fasta "$FASTA")
fi
# calibrate writes no file (its table goes to the log): nothing to resume, a
# requeued job reruns it.
if [ "$CMD" != calibrate ]; then
    if given --out; then OUT=$(value_of --out); else opts+=(--out "$OUT"); fi
fi
# Restarts are run's; calibrate keeps its own short default and channels has none.
if [ "$CMD" = run ]; then given --restarts || opts+=(--restarts "$RESTARTS"); fi
if [ "$CMD" != calibrate ] && [ -e "$OUT" ] && ! given --resume && ! given --overwrite; then
    opts+=(--resume)
fi
mpirun -np "$NP" -x OPENBLAS_NUM_THREADS=1 --map-by core --bind-to core \
    "$BIN" "$CMD" ${opts[@]+"${opts[@]}"} ${user[@]+"${user[@]}"}
