"""LangChain, LlamaIndex, Haystack and Chroma adapters, each used end to end the way its library's
docs use an embedder, with the library's own in-memory store: the stored vectors are
``StaticModel.encode`` rows and the search order is the one cosine similarity of those rows gives."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import numpy as np
import pytest

from fastembed_core import StaticModel
from fastembed_core.integrations._embedder import Encoder, require

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "examples" / "sentences.txt").read_text().splitlines() if (ROOT / "examples").exists() else None
QUERIES = ["how do I shrink a file", "a web browser", "database server", "operating system"]


@pytest.fixture(scope="module")
def model():
    if DOCS is None:
        pytest.skip("not a source checkout")
    return StaticModel.default()


def _ranking(model, query, k, dims=None):
    """Doc indices by descending cosine of encode() rows (ties: smaller index), and their scores."""
    q = model.encode([query], dims=dims)[0]
    d = model.encode(DOCS, dims=dims)
    s = (d @ q) / (np.linalg.norm(d, axis=1) * np.linalg.norm(q) + 1e-30)
    order = sorted(range(len(DOCS)), key=lambda i: (-s[i], i))[:k]
    return order, s[order]


def test_langchain_in_memory_vector_store(model):
    pytest.importorskip("langchain_core")
    from langchain_core.vectorstores import InMemoryVectorStore

    from fastembed_core.integrations.langchain import FastEmbedCoreEmbeddings

    emb = FastEmbedCoreEmbeddings(model, dims=128, num_threads=1)
    np.testing.assert_array_equal(np.array(emb.embed_documents(DOCS), np.float32), model.encode(DOCS, dims=128))
    np.testing.assert_array_equal(np.array(emb.embed_query(DOCS[0]), np.float32), model.encode(DOCS[0], dims=128))
    store = InMemoryVectorStore(embedding=emb)
    store.add_texts(DOCS, ids=[str(i) for i in range(len(DOCS))])
    for q in QUERIES:
        hits = store.similarity_search_with_score(q, k=3)
        want, scores = _ranking(model, q, 3, dims=128)
        assert [int(doc.id) for doc, _ in hits] == want
        np.testing.assert_allclose([s for _, s in hits], scores, rtol=1e-5, atol=1e-6)
    full = InMemoryVectorStore(embedding=FastEmbedCoreEmbeddings(model, num_threads=1))  # all 256 dims
    full.add_texts(DOCS)
    assert full.similarity_search("how do I shrink a file", k=1)[0].page_content == DOCS[0]


def test_llamaindex_vector_store_index(model):
    pytest.importorskip("llama_index.core")
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from fastembed_core.integrations.llamaindex import FastEmbedCoreEmbedding

    emb = FastEmbedCoreEmbedding(model, num_threads=1)
    np.testing.assert_array_equal(np.array(emb.get_text_embedding_batch(DOCS), np.float32), model.encode(DOCS))
    np.testing.assert_array_equal(np.array(asyncio.run(emb.aget_query_embedding(DOCS[1])), np.float32),
                                  model.encode(DOCS[1]))
    nodes = [TextNode(text=t, id_=str(i)) for i, t in enumerate(DOCS)]
    index = VectorStoreIndex(nodes, embed_model=emb)  # the default SimpleVectorStore, in memory
    retriever = index.as_retriever(similarity_top_k=3)
    for q in QUERIES:
        hits = retriever.retrieve(q)
        want, scores = _ranking(model, q, 3)
        assert [int(h.node.node_id) for h in hits] == want
        np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-5, atol=1e-6)


def test_haystack_pipelines(model, tmp_path):
    pytest.importorskip("haystack")
    from haystack import Document, Pipeline
    from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever
    from haystack.components.writers import DocumentWriter
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    from fastembed_core.integrations.haystack import FastEmbedCoreDocumentEmbedder, FastEmbedCoreTextEmbedder

    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    indexing = Pipeline()
    indexing.add_component("embedder", FastEmbedCoreDocumentEmbedder(model, dims=64))
    indexing.add_component("writer", DocumentWriter(document_store=store))
    indexing.connect("embedder.documents", "writer.documents")
    indexing.run({"embedder": {"documents": [Document(content=t, id=str(i)) for i, t in enumerate(DOCS)]}})
    stored = sorted(store.filter_documents(), key=lambda d: int(d.id))
    np.testing.assert_array_equal(np.array([d.embedding for d in stored], np.float32), model.encode(DOCS, dims=64))

    query = Pipeline()
    query.add_component("embedder", FastEmbedCoreTextEmbedder(model, dims=64))
    query.add_component("retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=3))
    query.connect("embedder.embedding", "retriever.query_embedding")
    for q in QUERIES:
        hits = query.run({"embedder": {"text": q}})["retriever"]["documents"]
        assert [int(d.id) for d in hits] == _ranking(model, q, 3, dims=64)[0]

    # meta fields are embedded before the content, like Haystack's own document embedders
    embedder = FastEmbedCoreDocumentEmbedder(model, meta_fields_to_embed=["title"], embedding_separator=" | ")
    doc = embedder.run([Document(content="body text", meta={"title": "a title"})])["documents"][0]
    np.testing.assert_array_equal(np.array(doc.embedding, np.float32), model.encode("a title | body text"))
    with pytest.raises(TypeError, match="Documents"):
        FastEmbedCoreTextEmbedder(model).run([Document(content="x")])


def test_haystack_serialises_a_model_directory(tmp_path, model):
    pytest.importorskip("haystack")
    from haystack import Pipeline

    from fastembed_core.integrations.haystack import FastEmbedCoreTextEmbedder

    model.save_pretrained(tmp_path / "m")
    pipe = Pipeline()
    pipe.add_component("embedder", FastEmbedCoreTextEmbedder(str(tmp_path / "m"), dims=32))
    # YAML round trip (third-party components must be allowed); the model is loaded by warm_up / the first run
    again = Pipeline.loads(pipe.dumps(), allowed_modules=["fastembed_core.integrations.haystack"])
    got = again.run({"embedder": {"text": DOCS[2]}})["embedder"]["embedding"]
    np.testing.assert_array_equal(np.array(got, np.float32), model.encode(DOCS[2], dims=32))
    with pytest.raises(TypeError, match="directory"):
        FastEmbedCoreTextEmbedder(model).to_dict()


@pytest.mark.filterwarnings("ignore:legacy embedding function config:DeprecationWarning")
def test_chroma_ephemeral_collection(model, tmp_path):
    chromadb = pytest.importorskip("chromadb")
    from fastembed_core.integrations.chroma import FastEmbedCoreEmbeddingFunction

    model.save_pretrained(tmp_path / "m")
    client = chromadb.EphemeralClient(chromadb.Settings(anonymized_telemetry=False))
    for i, source in enumerate([model, str(tmp_path / "m")]):
        fn = FastEmbedCoreEmbeddingFunction(source, num_threads=1)
        docs = client.create_collection(f"docs{i}", embedding_function=fn, configuration={"hnsw": {"space": "cosine"}})
        docs.add(ids=[str(j) for j in range(len(DOCS))], documents=DOCS)
        got = docs.get(ids=[str(j) for j in range(len(DOCS))], include=["embeddings"])["embeddings"]
        # what __call__ returns is encode() exactly; Chroma's cosine space stores them renormalised (<= 1 ulp)
        np.testing.assert_array_equal(np.stack(fn(DOCS)), model.encode(DOCS))
        np.testing.assert_allclose(np.asarray(got, np.float32), model.encode(DOCS), rtol=0, atol=1e-7)
        for q in QUERIES:
            res = docs.query(query_texts=[q], n_results=3)
            assert [int(j) for j in res["ids"][0]] == _ranking(model, q, 3)[0]
    assert FastEmbedCoreEmbeddingFunction.build_from_config(fn.get_config()).encoder.path == str(tmp_path / "m")


def test_options_checked_and_passed(model, tmp_path):
    enc = Encoder(model, dims=16, num_threads=1, normalize=False)
    np.testing.assert_array_equal(enc.encode(DOCS), model.encode(DOCS, dims=16, normalize=False))
    assert enc.dim == 16
    with pytest.raises(ValueError, match="dims"):
        Encoder(model, dims=model.dim + 1)
    with pytest.raises(ValueError, match="num_threads"):
        Encoder(model, num_threads=0)
    with pytest.raises(TypeError, match="model directory path or a fastembed_core.StaticModel"):
        Encoder(b"bytes")
    with pytest.raises((OSError, ValueError)):
        Encoder(tmp_path / "missing")


@pytest.mark.parametrize("adapter,library,extra", [
    ("langchain", "langchain_core.embeddings", "langchain"),
    ("llamaindex", "llama_index.core.base.embeddings.base", "llamaindex"),
    ("haystack", "haystack", "haystack"),
    ("chroma", "chromadb.api.types", "chroma"),
])
def test_missing_library_names_the_extra(monkeypatch, adapter, library, extra):
    monkeypatch.setitem(sys.modules, library, None)  # import of it now raises ImportError
    monkeypatch.delitem(sys.modules, f"fastembed_core.integrations.{adapter}", raising=False)
    with pytest.raises(ImportError, match=rf"pip install 'fastembed-core\[{extra}\]'"):
        importlib.import_module(f"fastembed_core.integrations.{adapter}")


def test_missing_spark_names_the_extra(monkeypatch):
    from fastembed_core.integrations import spark

    monkeypatch.setitem(sys.modules, "pyspark.ml.functions", None)
    with pytest.raises(ImportError, match=r"fastembed-core\[spark\]"):
        spark.embed_udf("unused")
    with pytest.raises(ImportError, match=r"fastembed-core\[serve\]"):
        monkeypatch.setitem(sys.modules, "uvicorn", None)
        from fastembed_core.serve import create_app

        create_app(None)
    with pytest.raises(ImportError, match=r"fastembed-core\[x\]"):
        require("no_such_module_fastembed", "x", "y")
