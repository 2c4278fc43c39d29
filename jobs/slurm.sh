#!/bin/bash
# Slurm: one MPI rank per core. CMD=run (the default), CMD=calibrate or
# CMD=channels picks the subcommand (calibrate and channels need FASTA=...).
# Options after the script name are that command's options and win over the
# defaults below (sbatch jobs/slurm.sh --restarts 20). calibrate writes no file
# and has no --resume: a requeued calibrate job reruns it.
# 90 s before the time limit Slurm sends SIGUSR1 to this script, which passes
# it to the ranks: the run stops at the next step, says so, and the job is
# requeued; the requeued (or a resubmitted) job adds --resume and finishes it.
# The log is appended to, so it keeps what every allocation of the job said.
#SBATCH --job-name=deepresolve
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --signal=B:USR1@90
#SBATCH --output=deepresolve-%j.log
#SBATCH --open-mode=append
set -euo pipefail

# Adjust to your site's module names.
module load gcc openmpi hdf5 openblas 2>/dev/null || true

# CMD picks the subcommand: run (the default), calibrate or channels.
CMD=${CMD:-run}
case $CMD in
run | calibrate | channels) ;;
*)
    echo "slurm.sh: CMD=$CMD is not a command this script launches: set CMD=run, CMD=calibrate or CMD=channels." >&2
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
    echo "slurm.sh: BIN=$BIN is not the deepresolve-mpi binary (no executable file there)." >&2
    echo "    Build it with: cargo build --release   (it is then target/release/deepresolve-mpi)" >&2
    echo "    and pass its path: BIN=/path/to/target/release/deepresolve-mpi sbatch ... --export=ALL jobs/slurm.sh" >&2
    exit 2
fi
export OPENBLAS_NUM_THREADS=1

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
        echo "slurm.sh: CMD=$CMD needs sequences: set FASTA=seqs.fa or pass --fasta seqs.fa." >&2
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
if [ "$CMD" != calibrate ] && [ -e "$OUT" ] && ! given --resume; then
    # A requeued job must not --overwrite what its first run wrote.
    if given --overwrite && [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then :; else
        kept=()
        for a in ${user[@]+"${user[@]}"}; do [ "$a" = --overwrite ] || kept+=("$a"); done
        user=(${kept[@]+"${kept[@]}"})
        opts+=(--resume)
    fi
fi

stopping=0
step=
on_usr1() {
    stopping=1
    if [ "$CMD" = calibrate ]; then
        echo "slurm.sh: SIGUSR1 (time limit near): stopping calibrate; the job will be requeued and reruns it (calibrate has no --resume)" >&2
    else
        echo "slurm.sh: SIGUSR1 (time limit near): stopping $CMD; the job will be requeued and --resume finishes it" >&2
    fi
    if [ -n "$step" ]; then kill -USR1 "$step" 2>/dev/null || true; fi
}
trap on_usr1 USR1
srun --cpu-bind=cores "$BIN" "$CMD" ${opts[@]+"${opts[@]}"} ${user[@]+"${user[@]}"} &
step=$!
# Slurm checks its timers every 30 s, so the warning can come before srun is
# running: pass it on now.
if [ "$stopping" = 1 ]; then kill -USR1 "$step" 2>/dev/null || true; fi
set +e
wait "$step"
rc=$?
# A trapped signal ends `wait` early: wait again until srun itself ends.
while [ "$rc" -gt 128 ] && kill -0 "$step" 2>/dev/null; do
    wait "$step"
    rc=$?
done
set -e
if [ "$stopping" = 1 ] && [ "$rc" != 0 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$rc"
