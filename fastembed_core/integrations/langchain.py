"""LangChain: a ``langchain_core.embeddings.Embeddings`` backed by a static model (extra ``[langchain]``).

    from langchain_core.vectorstores import InMemoryVectorStore
    from fastembed_core.integrations.langchain import FastEmbedCoreEmbeddings

    store = InMemoryVectorStore(FastEmbedCoreEmbeddings("/models/my-static-model", dims=128))
    store.add_texts(["...", "..."])
    store.similarity_search("query", k=4)

Vectors are ``StaticModel.encode`` rows (float32, returned as lists of Python floats).
"""

from __future__ import annotations

from typing import Any

from ._embedder import Encoder, require

Embeddings = require("langchain_core.embeddings", "langchain", "langchain").Embeddings

__all__ = ["FastEmbedCoreEmbeddings"]


class FastEmbedCoreEmbeddings(Embeddings):
    """``Embeddings`` for LangChain vector stores and retrievers.

    Args:
        model: model directory path or a ``fastembed_core.StaticModel``.
        dims: Matryoshka truncation (None: all dimensions); num_threads: pooling threads (None: all
            cores); normalize: None = the model's setting.
    """

    def __init__(self, model: Any, *, dims: int | None = None, num_threads: int | None = None,
                 normalize: bool | None = None) -> None:
        self.encoder = Encoder(model, dims=dims, num_threads=num_threads, normalize=normalize)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encoder.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.encode([text])[0].tolist()
