"""Optional integrations with peer libraries; each imports its peer lazily and names the extra to install.

- ``integrations.model2vec`` (extra ``[model2vec]``): ``accelerate(model2vec_model)`` makes an existing
  ``model2vec.StaticModel`` encode through the kernels with identical vectors; ``from_model2vec`` /
  ``to_model2vec`` convert in memory.
- ``integrations.sentence_transformers`` (extra ``[sentence-transformers]``): ``accelerate(st_model)``
  for ``StaticEmbedding`` [+ ``Normalize``] models, same outputs; its quantized formats (ubinary, binary,
  int8) are accepted everywhere codes are.
- ``integrations.faiss`` (extra ``[faiss]``): ``to_faiss`` / ``from_faiss`` / ``faiss_codes``: codes and
  distances interchangeable with ``faiss.IndexBinaryFlat``.
- ``integrations.torch`` (extra ``[torch]``): ``TernaryLinearModule`` / ``ternarize_linear_layers``,
  ``nn.Linear`` layers computed with the ternary kernels at inference.
- ``integrations.ray`` (extra ``[ray]``): ``Embedder`` (a ``map_batches`` callable class) and
  ``embed_dataset(ds, model)`` to embed a Ray Dataset across a cluster.
"""
