"""The small default model shipped with the package (built by scripts/build_default_model.py).

It is a static model distilled from all-MiniLM-L6-v2 (Apache-2.0; see models/default/NOTICE) and
stored in model2vec format, so ``model2vec.StaticModel.from_pretrained(default_model_path())`` loads
it too.
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
