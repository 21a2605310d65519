#!/usr/bin/env bash
# model2vec's own unit tests, from its PyPI sdist, with every model2vec.StaticModel accelerated by
# fastembed_core.integrations.model2vec.accelerate (tests/peers/model2vec_accelerate_plugin.py).
#
#   scripts/run_model2vec_suite.sh [extra pytest args]
#
# Needs: network access to PyPI (pip download), model2vec's test dependencies installed
# (pip install 'fastembed-core[peer-tests]': datasets, onnx, onnxscript, onnxruntime, scikit-learn,
# skops, skeletoken, torch, transformers). Exits non-zero on any failure, or when the plugin
# accelerated fewer than FASTEMBED_CORE_M2V_PLUGIN_MIN models (default 100: a run that accelerated
# nothing is a failure). Deselected: tests/integration (model2vec's `make test` skips them too: they
# download pretrained models from the Hugging Face hub and need mteb).
set -euo pipefail
PY=${PYTHON:-python}
VERSION=${MODEL2VEC_VERSION:-0.10.0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m pip download -q --no-deps --no-binary :all: "model2vec==$VERSION" -d "$WORK"
tar xzf "$WORK/model2vec-$VERSION.tar.gz" -C "$WORK"
cd "$WORK/model2vec-$VERSION"
export HF_HUB_OFFLINE=1 FASTEMBED_CORE_M2V_PLUGIN_MIN=${FASTEMBED_CORE_M2V_PLUGIN_MIN:-100}
# the plugin; fastembed_core itself comes from the environment (an installed wheel, or the source
# tree when it was built in place)
export PYTHONPATH="$ROOT/tests/peers${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import fastembed_core, model2vec; print('fastembed_core', fastembed_core.__version__, fastembed_core.BACKEND, fastembed_core.__file__)"
exec "$PY" -m pytest -p model2vec_accelerate_plugin -p no:cacheprovider --ignore=tests/integration -q "$@" tests
