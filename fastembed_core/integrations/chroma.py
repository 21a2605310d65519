"""Chroma: an ``EmbeddingFunction`` backed by a static model (extra ``[chroma]``).

    import chromadb
    from fastembed_core.integrations.chroma import FastEmbedCoreEmbeddingFunction

    client = chromadb.EphemeralClient(chromadb.Settings(anonymized_telemetry=False))
    docs = client.create_collection("docs", embedding_function=FastEmbedCoreEmbeddingFunction("/models/m"),
                                    configuration={"hnsw": {"space": "cosine"}})
    docs.add(ids=["a", "b"], documents=["...", "..."])
    docs.query(query_texts=["query"], n_results=1)

Pass it to every collection you create or get: Chroma's own default embedding function downloads a
model. It is registered under the name "fastembed_core", so a persistent collection made with a model
directory gets the same function back from its stored config.
"""

from __future__ import annotations

from typing import Any

from ._embedder import Encoder, require

_types = require("chromadb.api.types", "chroma", "chroma")
_registry = require("chromadb.utils.embedding_functions", "chroma", "chroma")

__all__ = ["FastEmbedCoreEmbeddingFunction"]


@_registry.register_embedding_function
class FastEmbedCoreEmbeddingFunction(_types.EmbeddingFunction):
    """``EmbeddingFunction[Documents]``: ``fn(texts)`` -> one float32 [dim] array per text.

    Args:
        model: model directory path or a ``fastembed_core.StaticModel``.
        dims, num_threads, normalize: as in ``StaticModel.encode`` (None: the defaults).
    """

    def __init__(self, model: Any, *, dims: int | None = None, num_threads: int | None = None,
                 normalize: bool | None = None) -> None:
        self.encoder = Encoder(model, dims=dims, num_threads=num_threads, normalize=normalize)

    def __call__(self, input: Any) -> Any:
        return list(self.encoder.encode(input))

    @staticmethod
    def name() -> str:
        return "fastembed_core"

    def default_space(self) -> str:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return self.encoder.options()

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> FastEmbedCoreEmbeddingFunction:
        return FastEmbedCoreEmbeddingFunction(**config)
