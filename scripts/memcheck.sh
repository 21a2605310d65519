#!/usr/bin/env bash
# valgrind memcheck over a representative subset of the suite, on a debug (-O0 -g) build of the
# extension made in a scratch copy of the tree (the tree's own build is left alone).
#
#   scripts/memcheck.sh [pytest args...]     default: the compiled-backend tests of the kernel families
#
# PYTHONMALLOC=malloc sends Python's small objects through malloc so memcheck sees them and
# pymalloc's by-design reads of uninitialised arena memory don't show up; leak checking is off
# (CPython keeps interned objects until exit); scripts/valgrind-python.supp drops errors whose
# innermost frame is inside libpython. Any other memcheck error fails the run (exit 99).
# valgrind is ~50x slower than a normal run: keep the subset small.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | grep -zv '^fuzz/corpus' | xargs -0 cp --parents -t "$WORK")
cd "$WORK"
FASTEMBED_CORE_DEBUG=1 "$PY" setup.py -q build_ext --inplace --force >/dev/null 2>&1
if [ $# -eq 0 ]; then
  set -- tests/test_gather.py tests/test_binary.py tests/test_wordpiece.py \
    -k "compiled and not slow and not property and not every_code_point and not faiss and not dev_data and not concurrent" \
    -p no:cacheprovider -q -x
fi
export PYTHONMALLOC=malloc TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=no --track-origins=no --num-callers=30 \
  --suppressions="$ROOT/scripts/valgrind-python.supp" "$PY" -m pytest "$@"
