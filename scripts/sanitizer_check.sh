#!/usr/bin/env bash
# Proves the ASan + UBSan build can see errors, without putting bad code in the package:
#  1. two tiny C programs compiled with setup.py's sanitizer flags: a heap read past the end must
#     be reported by ASan, a misaligned float load by UBSan (both must exit non-zero);
#  2. the built extension (if it is the sanitizer build) links libasan + libubsan and calls their
#     checks (__asan_report_* / __ubsan_handle_* symbols).
# Usage: scripts/sanitizer_check.sh   (after FASTEMBED_CORE_SANITIZE=address,undefined python setup.py build_ext --inplace)
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-gcc}
FLAGS="-O3 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

cat > "$TMP/oob.c" <<'C'
#include <stdlib.h>
int main(int argc, char **argv) {
    (void)argv;
    volatile float *p = malloc(8 * sizeof(float));
    float s = p[8 + argc - 1];          /* one past the end */
    free((void *)p);
    return (int)s;
}
C
cat > "$TMP/misaligned.c" <<'C'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    (void)argv;
    char buf[16];
    memset(buf, 0, sizeof buf);
    const float *f = (const float *)(buf + argc);   /* argc = 1: 1 byte off */
    return (int)*f;
}
C
expect() {  # expect <program> <pattern>
  local out rc=0
  out=$("$TMP/$1" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] && grep -q "$2" <<<"$out"; then
    echo "ok: $1 -> exit $rc, $(grep -m1 -o "$2.*" <<<"$out" | cut -c1-90)"
  else
    echo "FAIL: $1 was not caught (exit $rc)"; echo "$out" | head -20; exit 1
  fi
}
# object-size off for the first program only, so that ASan (not UBSan) must catch the overflow
$CC $FLAGS -fno-sanitize=object-size "$TMP/oob.c" -o "$TMP/oob"
$CC $FLAGS "$TMP/misaligned.c" -o "$TMP/misaligned"
expect oob "heap-buffer-overflow"
expect misaligned "runtime error: load of misaligned address"

SO=$(ls fastembed_core/_kernels*.so 2>/dev/null | head -1 || true)
if [ -z "$SO" ]; then echo "no extension built: skipped the .so check"; exit 0; fi
LIBS=$(ldd "$SO")
SYMS=$(nm -D "$SO")
if grep -q libasan <<<"$LIBS" && grep -q libubsan <<<"$LIBS"; then
  n_asan=$(grep -c "__asan_report" <<<"$SYMS" || true)
  n_ubsan=$(grep -c "__ubsan_handle" <<<"$SYMS" || true)
  echo "ok: $SO links $(grep -o 'lib[a-z]*san[^ ]*' <<<"$LIBS" | tr '\n' ' ')and calls $n_asan __asan_report_* and $n_ubsan __ubsan_handle_* entry points"
else
  echo "note: $SO is not a sanitizer build (build with FASTEMBED_CORE_SANITIZE=address,undefined)"
fi
