#!/usr/bin/env bash
# Bounded coverage-guided fuzzing of the inputs that come from outside (atheris / libFuzzer).
#
#   fuzz/run.sh [seconds per target, default 60] [targets...]
#   FUZZ_RUNS=5000 fuzz/run.sh 120      reproducible: 5000 inputs from seed FUZZ_SEED (default 1)
#
# Targets: model_dir index tokenizer ternary unigram (default: all present). Each runs for the given time
# from a scratch copy of its seed corpus fuzz/corpus/<target>/ (new inputs land in the scratch copy,
# never in the repo); a crash or a non-handled exception stops with libFuzzer's report and the
# reproducer path (crash-*), and this script exits non-zero. Needs `pip install atheris`.
# Uses the extension as built in the tree (python setup.py build_ext --inplace). Total time is about
# (seconds + ~10 s startup) x targets.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python}
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(model_dir index tokenizer ternary unigram)
"$PY" -c "import atheris" 2>/dev/null || { echo "atheris is not installed: pip install atheris" >&2; exit 2; }
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
for t in "${TARGETS[@]}"; do
  if [ ! -d "corpus/$t" ]; then echo "== $t: no seed corpus (not in this build), skipped"; continue; fi
  mkdir -p "$WORK/$t" "$WORK/artifacts-$t"
  cp corpus/"$t"/* "$WORK/$t/"
  echo "== $t: ${SECONDS_PER_TARGET}s"
  # FUZZ_RUNS=N: a fixed number of inputs from a fixed seed (FUZZ_SEED, default 1) instead of a time
  # budget, so that a CI gate is reproducible; the time limit still bounds it.
  LIMIT=(-max_total_time="$SECONDS_PER_TARGET")
  [ -n "${FUZZ_RUNS:-}" ] && LIMIT+=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
  if ! "$PY" "fuzz_$t.py" "${LIMIT[@]}" -rss_limit_mb=4096 -timeout=30 \
      -artifact_prefix="$WORK/artifacts-$t/" "$WORK/$t" 2>"$WORK/$t.log"; then
    status=1
    tail -n 60 "$WORK/$t.log"
    mkdir -p findings && cp "$WORK/artifacts-$t"/* findings/ 2>/dev/null || true
    echo "!! $t: finding (reproducer copied to fuzz/findings/; replay: $PY fuzz/fuzz_$t.py --replay <file>)"
  else
    grep -E "^#[0-9]+\s+DONE" "$WORK/$t.log" | tail -1 || tail -n 3 "$WORK/$t.log"
    echo "   corpus: $(ls "$WORK/$t" | wc -l) inputs"
  fi
done
exit $status
