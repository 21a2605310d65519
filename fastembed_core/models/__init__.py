"""The small default model shipped with the package (built by scripts/build_default_model.py).

It is a static model distilled from all-MiniLM-L6-v2 (Apache-2.0; see models/default/NOTICE), stored
in the model2vec directory layout but with a 2-bit ternary table (``ternary_packed`` /
``ternary_scales``, ``"embedding_dtype": "ternary"``), which model2vec itself cannot load:
``fastembed_core.integrations.model2vec.to_model2vec(StaticModel.default())`` gives an equivalent
``model2vec.StaticModel`` in memory, with the same vectors.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["default_model_path"]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"


def default_model_path() -> Path:
    """Directory of the bundled default model; ``FileNotFoundError`` if the package was built without it."""
    if not (DEFAULT_MODEL_DIR / "model.safetensors").exists():
        raise FileNotFoundError(
            f"the bundled default model is missing from {DEFAULT_MODEL_DIR} "
            "(rebuild it with scripts/build_default_model.py)"
        )
    return DEFAULT_MODEL_DIR
