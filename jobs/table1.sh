#!/usr/bin/env bash
# The paper's Table 1 from the DeepResolve authors' 422 single-task TF models:
# DeepResolve on every model in one MPI job, then the top 1/3/5 first-layer
# filters of each model by OFIV matched against that experiment's JASPAR motif
# with the built-in TOMTOM (`match`, Pearson, complete scores).
#
#   jobs/table1.sh [MODELS_DIR] [OUT_DIR] [-- extra run options]
#
# MODELS_DIR holds one directory per experiment with 16_G_best_archit.json and
# 16_G_bestmodel_weights.h5, and tf_motifs.tsv (experiment → JASPAR matrix);
# default ../shared/fixtures/keras1-deepresolve-422tf/all. RANKS (default 2)
# ranks. The ascent runs with the authors' settings for these models: λ 2.8, lr
# 0.01, maps started from U[0, 1) and the last iterate kept (LAMBDA, LR, INIT,
# KEEP change them; INIT=normal KEEP=best is this program's default), and the
# GMM with scikit-learn's absolute covariance floor as the authors' analysis
# (GMM_FLOOR=fiv for this program's default). Extra options go to `run`.
# JASPAR: the motif database, 2024 (default) or 2018 (the paper's release, the
# one tf_motifs.tsv's IDs come from), both bundled under data/, or a MEME file
# (a relative path is from the repository, as MODELS_DIR and OUT_DIR).
# BIN: a prebuilt binary to use instead of building
# target/release/deepresolve-mpi.
set -euo pipefail
cd "$(dirname "$0")/.."
models=${1:-../shared/fixtures/keras1-deepresolve-422tf/all}
out=${2:-results/table1}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
case "${JASPAR:-2024}" in
    2018 | 2024) db=data/JASPAR${JASPAR:-2024}_CORE_vertebrates_non-redundant.meme ;;
    *) db=$JASPAR ;;
esac
[ -f "$db" ] || {
    echo "table1: JASPAR=${JASPAR:-2024}: no such file; give 2018 or 2024 (bundled under data/) or a MEME file" >&2
    exit 2
}
echo "table1: motif database $db"
. jobs/setup.sh
if [ -z "${BIN:-}" ]; then
    cargo build --release -q
fi
bin=${BIN:-target/release/deepresolve-mpi}
settings=(--lambda "${LAMBDA:-2.8}" --lr "${LR:-0.01}" --init "${INIT:-uniform}" --keep "${KEEP:-final}")
[ -n "${GMM_FLOOR-absolute}" ] && settings+=(--gmm-floor "${GMM_FLOOR-absolute}")
tsv="$models/tf_motifs.tsv"
[ -f "$tsv" ] || { echo "table1: no $tsv"; exit 1; }
mkdir -p "$out/motifs"
list="$out/models.txt"
: > "$list"
for d in "$models"/*/; do
    e=$(basename "$d")
    [ -f "$d/16_G_best_archit.json" ] || continue
    echo "$d/16_G_best_archit.json $e $d/16_G_bestmodel_weights.h5" >> "$list"
done
echo "table1: $(wc -l < "$list") models"
# H = the input of Flatten: the 16 first-layer filters after global max pooling.
t0=$(date +%s)
mpirun -n "${RANKS:-2}" --oversubscribe "$bin" run --models "$list" --out-dir "$out/runs" \
    --layer 2 --overwrite --progress-every 10 "${settings[@]}" "$@"
echo "table1: run options ${settings[*]} $*"
echo "table1: DeepResolve on all models: $(( $(date +%s) - t0 )) s"
# Per model: the top 5 filters as MEME motifs, matched against all of JASPAR.
while read -r arch e weights; do
    "$bin" motifs --model "$arch" --weights "$weights" --results "$out/runs/$e.h5" \
        --top 5 --out "$out/motifs/$e.meme" >/dev/null
    "$bin" match --motifs "$out/motifs/$e.meme" --db "$db" --thresh 1 \
        --out "$out/motifs/$e.tsv"
done < "$list"
# The experiment's matrix by its base ID (MA0139.1 in JASPAR 2018 is MA0139.x
# in JASPAR 2024; the 2018 file has the very IDs); a filter counts if its p-value against it is
# below the threshold; filters are named <class>_rank<r>_ch<k>.
summary=$(
    tail -n +2 "$tsv" | while IFS=$'\t' read -r e factor jid jname; do
        f="$out/motifs/$e.tsv"
        [ -f "$f" ] || continue
        base=${jid%.*}
        # best p-value of the known motif among the top r filters, for r = 1, 3, 5
        awk -F'\t' -v base="$base" '
            NR > 1 && $1 !~ /^#/ && $2 ~ "^" base "\\." {
                r = $1; sub(/.*_rank/, "", r); sub(/_ch.*/, "", r); r += 0
                for (k = 1; k <= 3; k++) { top = (k == 1 ? 1 : (k == 2 ? 3 : 5))
                    if (r <= top && (!(k in best) || $4 < best[k])) best[k] = $4 }
            }
            END { printf "%s %s %s\n", (1 in best ? best[1] : 1), (2 in best ? best[2] : 1), (3 in best ? best[3] : 1) }
        ' "$f"
    done
)
echo "$summary" | awk -v n="$(echo "$summary" | wc -l)" '
    { for (k = 1; k <= 3; k++) { if ($k < 0.5) a[k]++; if ($k < 0.05) b[k]++ } }
    END {
        printf "table1: %d experiments; known motif among the top 1 / 3 / 5 filters\n", n
        printf "  p < 0.5 : %d / %d / %d   (paper: 412 / 421 / 422)\n", a[1], a[2], a[3]
        printf "  p < 0.05: %d / %d / %d   (paper: 407 / 418 / 421)\n", b[1], b[2], b[3]
    }'
