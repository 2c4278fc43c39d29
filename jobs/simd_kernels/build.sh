#!/bin/bash
# The small-batch kernels (src/network/skinny.rs) alone, as a dependency-free
# no_std shared library of 44 KB, for a machine that has the CPU but not the
# toolchain or the program's libraries: build it here, copy the .so (and
# bench_kernels.py) there, run `LIBK=./libk.so python3 bench_kernels.py`.
# It checks AVX-512 against AVX2 bitwise on 320 products (every tile and
# edge) and times both on DeepSEA's products. Q=2 runs AVX2 against itself
# (for a CPU without AVX-512).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/libk.so}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/lib.rs" "$here/simd_stub.rs" "$tmp/"
# no_std: Vec from alloc, intrinsics from core, no inner doc comments.
sed -e 's/^use super::simd::{self, SimdPath};/use super::simd::{self, SimdPath};\nuse alloc::vec::Vec;/' \
    -e '/^\/\/!/d' -e 's/use std::arch::x86_64/use core::arch::x86_64/' \
    "$here/../../src/network/skinny.rs" > "$tmp/skinny.rs"
rustc --edition 2021 --crate-type cdylib -C opt-level=3 -C panic=abort -C strip=symbols \
    -C lto=fat -C codegen-units=1 "$tmp/lib.rs" -o "$out"
echo "$out"
