#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: make sure the system libraries and a Rust
# toolchain are there, then set the environment every run needs.
# Debian/Ubuntu as root: installs what is missing. Elsewhere: says what to install
# (or which cluster modules to load) and stops.
set -euo pipefail

need_pkgs=(libopenmpi-dev openmpi-bin libhdf5-dev libopenblas-dev libclang-dev pkg-config gcc)
# rustup is fetched with curl when no Rust toolchain is found
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || need_pkgs+=(curl ca-certificates)

have_libs() {
    command -v mpirun >/dev/null 2>&1 &&
        command -v mpicc >/dev/null 2>&1 &&
        pkg-config --exists hdf5 2>/dev/null || [ -e /usr/include/hdf5/serial/hdf5.h ] || [ -n "${HDF5_DIR:-}" ]
}

missing_debs() {
    local m=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || m+=("$p")
    done
    echo "${m[@]:-}"
}

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt_updated=0
    missing=$(missing_debs "${need_pkgs[@]}")
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then
            echo "setup: installing $missing"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt_updated=1
            # shellcheck disable=SC2086
            apt-get install -y -qq $missing >/dev/null
        else
            echo "setup: missing Debian packages: $missing"
            echo "       run: sudo apt-get install -y $missing"
            exit 1
        fi
    fi
    # tests/slurm_cluster.rs starts a real one-node Slurm. jobs/test.sh sets
    # DEEPRESOLVE_SLURM_TESTS=1 (unless it is 0), and as root its packages are
    # installed here; the test skips, saying why, where they are missing.
    if [ "${DEEPRESOLVE_SLURM_TESTS:-0}" != 0 ] && [ "$(id -u)" = 0 ]; then
        missing=$(missing_debs slurm-wlm munge)
        if [ -n "$missing" ]; then
            echo "setup: installing $missing (for tests/slurm_cluster.rs; DEEPRESOLVE_SLURM_TESTS=0 skips it)"
            export DEBIAN_FRONTEND=noninteractive
            [ "$apt_updated" = 1 ] || apt-get update -qq || true
            # shellcheck disable=SC2086
            apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
                echo "setup: could not install $missing: tests/slurm_cluster.rs will skip"
        fi
    fi
    # tests/report.rs renders the report page in headless Chromium; as root it
    # is installed here (the test skips, saying why, where it is missing, but
    # fails under CI=true on Debian as root). Only for the tests: jobs/test.sh
    # sets DEEPRESOLVE_BROWSER_TESTS=1; the demo does not need a browser.
    if [ "${DEEPRESOLVE_BROWSER_TESTS:-0}" != 0 ] && [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
        missing=$(missing_debs chromium)
        if [ -n "$missing" ]; then
            echo "setup: installing chromium (for tests/report.rs)"
            export DEBIAN_FRONTEND=noninteractive
            [ "$apt_updated" = 1 ] || apt-get update -qq || true
            apt-get install -y -qq chromium >/dev/null ||
                echo "setup: could not install chromium: tests/report.rs will skip its browser check"
        fi
    fi
elif ! have_libs; then
    cat <<'MSG'
setup: not a Debian/Ubuntu system. deepresolve-mpi needs, before building:
  - an MPI implementation with mpicc and mpirun (OpenMPI or MPICH),
  - HDF5 1.10+ (C library and headers),
  - OpenBLAS (with CBLAS),
  - libclang (for the MPI bindings), pkg-config,
  - Rust 1.85+ (rustup).
On a cluster, load them as modules, for example:
  module load gcc openmpi hdf5 openblas llvm rust
and, if HDF5 is not found, export HDF5_DIR=<hdf5 prefix>.
MSG
    exit 1
fi

if ! command -v cargo >/dev/null 2>&1; then
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: no Rust toolchain; installing it with rustup (needs internet)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    . "$HOME/.cargo/env"
fi

# One BLAS thread per rank: ranks are the parallelism.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# OpenMPI refuses root unless told; containers and CI run as root.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
