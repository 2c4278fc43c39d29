#!/usr/bin/env bash
# The whole test suite. Tests need no Python: fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/slurm_cluster.rs runs a real one-node Slurm; setup.sh installs it as root.
export DEEPRESOLVE_SLURM_TESTS=${DEEPRESOLVE_SLURM_TESTS:-1}
# tests/report.rs renders the report in headless Chromium; setup.sh installs it as root.
export DEEPRESOLVE_BROWSER_TESTS=${DEEPRESOLVE_BROWSER_TESTS:-1}
. jobs/setup.sh
cargo build --release
cargo test --release --all-targets -- --test-threads=2
