#!/bin/sh
# Runs every SIMD variant of the C kernels against the scalar one (scripts/c/variants_check.c):
#  1. natively (x86: AVX2 / AVX-512 variants the CPU has);
#  2. cross-compiled for aarch64 and run under qemu-user, twice: -cpu max (NEON + dotprod: the
#     neon_dotprod variants run) and -cpu cortex-a53 (no dotprod: run-time detection must refuse it).
# Needs: apt-get install gcc-aarch64-linux-gnu qemu-user (step 2 is skipped with a message without them).
set -eu
cd "$(dirname "$0")/.."
out=${TMPDIR:-/tmp}/fe_variants_check.$$
trap 'rm -f "$out".native "$out".arm64' EXIT
SRC="scripts/c/variants_check.c csrc/cpu.c csrc/gather.c csrc/hamming.c csrc/pool.c csrc/ternary.c csrc/wordpiece.c csrc/added.c csrc/unicode.c"
CFLAGS="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wno-unused-function -Icsrc"
echo "== native ($(uname -m))"
${CC:-cc} $CFLAGS $SRC -o "$out".native -lm -pthread
"$out".native
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    aarch64-linux-gnu-gcc $CFLAGS -static $SRC -o "$out".arm64 -lm -pthread
    for cpu in max cortex-a53; do
        echo "== aarch64 under qemu-aarch64 -cpu $cpu"
        qemu-aarch64 -cpu $cpu "$out".arm64
    done
else
    echo "aarch64 step skipped: install gcc-aarch64-linux-gnu and qemu-user" >&2
    exit 2
fi
