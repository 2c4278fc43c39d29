#!/usr/bin/env python3
"""How many classes the GMM gives 1, 2 and 3 components, per floor mode.

    jobs/gmm_counts.py RUNS_DIR [--floor fiv,relative,absolute] [--bin BIN]

RUNS_DIR holds results files (e.g. results/table1/runs after
`RANKS=2 jobs/table1.sh`). Each file is copied to a scratch directory and
re-analysed there with `deepresolve-mpi analyze --gmm-floor MODE` (no new
ascent; the files in RUNS_DIR are not changed), then the classes'
`/analysis/gmm_components` are counted. Needs h5py. docs/results.md ("The
GMM's floor") records what this gives on the authors' 422 models.
"""
import argparse
import collections
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import h5py


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", help="directory of results files (*.h5)")
    ap.add_argument("--floor", default="fiv,relative,absolute",
                    help="comma-separated --gmm-floor modes (default: all three)")
    ap.add_argument("--bin", default="target/release/deepresolve-mpi",
                    help="the deepresolve-mpi binary")
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.runs, "*.h5")))
    if not files:
        sys.exit(f"gmm_counts: no *.h5 in {a.runs}")
    with tempfile.TemporaryDirectory(prefix="gmm_counts-") as tmp:
        for mode in a.floor.split(","):
            counts = collections.Counter()
            for src in files:
                dst = os.path.join(tmp, os.path.basename(src))
                shutil.copyfile(src, dst)
                r = subprocess.run([a.bin, "analyze", dst, "--gmm-floor", mode],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"gmm_counts: analyze {src} --gmm-floor {mode}:\n{r.stderr}")
                with h5py.File(dst, "r") as f:
                    counts.update(int(c) for c in f["analysis/gmm_components"][:])
                os.remove(dst)
            n = sum(counts.values())
            print(f"{mode}: {n} classes in {len(files)} files; 1 / 2 / 3 components: "
                  f"{counts[1]} / {counts[2]} / {counts[3]}", flush=True)


if __name__ == "__main__":
    main()
