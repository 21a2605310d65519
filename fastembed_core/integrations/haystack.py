"""Haystack: text and document embedder components backed by a static model (extra ``[haystack]``).

    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from fastembed_core.integrations.haystack import FastEmbedCoreDocumentEmbedder, FastEmbedCoreTextEmbedder

    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(FastEmbedCoreDocumentEmbedder(model_dir).run(docs)["documents"])
    query = Pipeline()
    query.add_component("embedder", FastEmbedCoreTextEmbedder(model_dir))
    query.add_component("retriever", InMemoryEmbeddingRetriever(store))
    query.connect("embedder.embedding", "retriever.query_embedding")
    query.run({"embedder": {"text": "query"}})

Like Haystack's own embedders, a model given as a path is loaded by ``warm_up()`` (pipelines call it;
``run`` does if nobody did). Vectors are ``StaticModel.encode`` rows as lists of floats.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._embedder import Encoder, require

_haystack = require("haystack", "haystack", "haystack")
component, Document = _haystack.component, _haystack.Document

__all__ = ["FastEmbedCoreDocumentEmbedder", "FastEmbedCoreTextEmbedder"]


class _Base:
    def __init__(self, model: Any, *, dims: int | None = None, num_threads: int | None = None,
                 normalize: bool | None = None) -> None:
        self.model, self.options = model, dict(dims=dims, num_threads=num_threads, normalize=normalize)
        self.encoder: Encoder | None = None

    def warm_up(self) -> None:
        if self.encoder is None:
            self.encoder = Encoder(self.model, **self.options)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        self.warm_up()
        return self.encoder.encode(texts).tolist()

    def to_dict(self) -> dict[str, Any]:
        """Pipeline serialisation (needs the model as a directory path, not a StaticModel object)."""
        if not isinstance(self.model, str):
            raise TypeError(f"{type(self).__name__} built from a StaticModel object cannot be serialised: "
                            "pass the model directory")
        return _haystack.default_to_dict(self, model=self.model, **self.options)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return _haystack.default_from_dict(cls, data)


@component
class FastEmbedCoreTextEmbedder(_Base):
    """Embeds one string (a query): ``run(text)`` -> ``{"embedding": list[float]}``.

    Args:
        model: model directory path or a ``fastembed_core.StaticModel``.
        dims, num_threads, normalize: as in ``StaticModel.encode`` (None: the defaults).
    """

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise TypeError("FastEmbedCoreTextEmbedder expects a string; embed Documents with "
                            "FastEmbedCoreDocumentEmbedder")
        return {"embedding": self._encode([text])[0]}


@component
class FastEmbedCoreDocumentEmbedder(_Base):
    """Embeds Documents: ``run(documents)`` -> ``{"documents": copies with .embedding set}``.

    The embedded text is the values of ``meta_fields_to_embed`` (those present) and the content,
    joined by ``embedding_separator`` (as Haystack's SentenceTransformersDocumentEmbedder does).
    """

    def __init__(self, model: Any, *, dims: int | None = None, num_threads: int | None = None,
                 normalize: bool | None = None, meta_fields_to_embed: list[str] | None = None,
                 embedding_separator: str = "\n") -> None:
        # explicit base calls: @component rebuilds the class, which breaks zero-argument super()
        _Base.__init__(self, model, dims=dims, num_threads=num_threads, normalize=normalize)
        self.meta_fields_to_embed, self.embedding_separator = list(meta_fields_to_embed or []), embedding_separator

    def to_dict(self) -> dict[str, Any]:
        data = _Base.to_dict(self)
        data["init_parameters"].update(meta_fields_to_embed=self.meta_fields_to_embed,
                                       embedding_separator=self.embedding_separator)
        return data

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise TypeError("FastEmbedCoreDocumentEmbedder expects a list of Documents; embed a string with "
                            "FastEmbedCoreTextEmbedder")
        texts = [self.embedding_separator.join(
            [str(d.meta[k]) for k in self.meta_fields_to_embed if d.meta.get(k) is not None] + [d.content or ""])
            for d in documents]
        vecs = self._encode(texts)
        return {"documents": [dataclasses.replace(d, embedding=v) for d, v in zip(documents, vecs)]}
