#!/usr/bin/env bash
# The whole test suite. Tests need no Python: fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
. jobs/setup.sh
cargo build --release
cargo test --release --all-targets -- --test-threads=2
