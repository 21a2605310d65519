#!/usr/bin/env bash
# Coverage-guided fuzzing of the C code itself with clang's libFuzzer + ASan + UBSan (Debian: apt-get
# install clang). Each fuzz/c/fuzz_<name>.c links the csrc/*.c it needs directly (no Python).
#
#   fuzz/c/run.sh [seconds per target, default 30] [names...]     e.g. fuzz/c/run.sh 30 wordpiece
#
# Reproducible by default: a fixed seed (FUZZ_SEED, default 1) from the seed corpus fuzz/c/corpus/<name>/
# (new inputs land in a scratch copy, never in the repo). A finding stops that target with libFuzzer's
# report; the reproducer is copied to fuzz/findings/ and this script exits non-zero. Replay one:
#   .ci-work/fuzz-c/fuzz_<name> fuzz/findings/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-30}
shift || true
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "$CC not found (Debian: apt-get install clang)" >&2; exit 2; }
OUT=${FUZZ_OUT:-.ci-work/fuzz-c}
mkdir -p "$OUT"
# The C sources each harness links: fuzz/c/fuzz_<name>.c -> csrc files.
declare -A SOURCES=(
  [wordpiece]="csrc/wordpiece.c csrc/added.c csrc/unicode.c"
  [unigram]="csrc/unigram.c csrc/added.c csrc/unicode.c"  # fe_ug_fuzz_one, the Unigram tokenizer's own entry point
  [added]="csrc/added.c csrc/unicode.c"  # fe_added_fuzz_one: added-token configs and matching
)
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=("${!SOURCES[@]}")
status=0
for name in "${NAMES[@]}"; do
  src=fuzz/c/fuzz_$name.c
  [ -f "$src" ] || { echo "== $name: $src missing, skipped"; continue; }
  bin=$OUT/fuzz_$name
  "$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Icsrc \
    "$src" ${SOURCES[$name]} -o "$bin"
  work=$OUT/corpus-$name
  rm -rf "$work" "$OUT/artifacts-$name"
  mkdir -p "$work" "$OUT/artifacts-$name"
  [ -d "fuzz/c/corpus/$name" ] && cp fuzz/c/corpus/"$name"/* "$work/"
  echo "== $name: ${SECS}s"
  if ! "$bin" -max_total_time="$SECS" -seed="${FUZZ_SEED:-1}" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$OUT/artifacts-$name/" "$work" 2>"$OUT/$name.log"; then
    status=1
    tail -n 40 "$OUT/$name.log"
    mkdir -p fuzz/findings && cp "$OUT/artifacts-$name"/* fuzz/findings/ 2>/dev/null || true
    echo "!! $name: finding (reproducer copied to fuzz/findings/; replay: $bin <file>)"
  else
    grep -E "^#[0-9]+\s+DONE" "$OUT/$name.log" | tail -1 || tail -n 3 "$OUT/$name.log"
  fi
done
exit $status
