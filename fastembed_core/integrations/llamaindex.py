"""LlamaIndex: a ``BaseEmbedding`` backed by a static model (extra ``[llamaindex]``).

    from llama_index.core import VectorStoreIndex
    from fastembed_core.integrations.llamaindex import FastEmbedCoreEmbedding

    index = VectorStoreIndex(nodes, embed_model=FastEmbedCoreEmbedding("/models/my-static-model"))
    index.as_retriever(similarity_top_k=3).retrieve("query")

(or ``Settings.embed_model = FastEmbedCoreEmbedding(...)``). Vectors are ``StaticModel.encode`` rows.
"""

from __future__ import annotations

from typing import Any

from ._embedder import Encoder, require

_base = require("llama_index.core.base.embeddings.base", "llamaindex", "llamaindex")
_bridge = require("llama_index.core.bridge.pydantic", "llamaindex", "llamaindex")

__all__ = ["FastEmbedCoreEmbedding"]


class FastEmbedCoreEmbedding(_base.BaseEmbedding):
    """``BaseEmbedding`` for LlamaIndex indexes and retrievers.

    Args:
        model: model directory path or a ``fastembed_core.StaticModel``.
        dims, num_threads, normalize: as in ``StaticModel.encode`` (None: the defaults).
        embed_batch_size: texts LlamaIndex hands over per call (default 1024); other keyword
            arguments go to ``BaseEmbedding``.
    """

    _encoder: Encoder = _bridge.PrivateAttr()

    def __init__(self, model: Any, *, dims: int | None = None, num_threads: int | None = None,
                 normalize: bool | None = None, embed_batch_size: int = 1024, **kwargs: Any) -> None:
        encoder = Encoder(model, dims=dims, num_threads=num_threads, normalize=normalize)
        kwargs.setdefault("model_name", encoder.path or "fastembed_core.StaticModel")
        super().__init__(embed_batch_size=embed_batch_size, **kwargs)
        self._encoder = encoder

    @classmethod
    def class_name(cls) -> str:
        return "FastEmbedCoreEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encoder.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encoder.encode(texts).tolist()
