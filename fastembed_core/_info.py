"""capabilities(): what this process detected and which kernel variants it dispatches to."""

from __future__ import annotations

import platform

from . import _backend, _parallel
from .tokenize import fast_tokenizer_enabled


def capabilities() -> dict:
    """A dict describing the backend, the CPU features detected, threads, and each kernel's variant.

    Every value is read from what was built and detected, never assumed: ``openmp`` is whether the
    extension was compiled with OpenMP (``_kernels.OPENMP``; False under the numpy backend).
    ``kernels`` maps every compiled kernel to ``{"active": variant, "variants": {name: supported}}``
    (variants best first); with the numpy backend it is empty. ``tokenizer_fast_path`` says
    whether BERT-style WordPiece and SentencePiece Unigram tokenizers run in C in this process:
    True only with the compiled backend, the binding present and the fast path enabled
    (``StaticModel.tokenizer_path`` tells per model, ``model.tokenizer.fast_reason`` why not).
    ``emulated_simd`` is True only for the test-only SIMDe build (FASTEMBED_CORE_EMULATE_SIMD=1),
    whose ``cpu_features`` are all reported present. ``scan_prefetch``: whether the Hamming scans
    prefetch ahead in software (off on AMD CPUs with AVX-512, whose hardware prefetcher streams faster
    alone; False under the numpy backend).
    """
    mod = _backend.kernels
    compiled = _backend.BACKEND == "compiled"
    enabled = fast_tokenizer_enabled()
    return {
        "backend": _backend.BACKEND,
        "machine": platform.machine(),
        "cpu_features": mod.cpu_features() if compiled else _compiled_features(),
        "emulated_simd": _emulated_simd(),
        "threads": _parallel.default_threads(),
        "threading": "thread pool over GIL-free kernels" if compiled else "numpy (single call per kernel)",
        "openmp": bool(getattr(mod, "OPENMP", False)) if compiled else False,
        "kernels": mod.kernel_variants() if compiled else {},
        "scan_prefetch": mod.scan_prefetch() if compiled else False,
        "tokenizer_fast_path": {
            # BertNormalizer + BertPreTokenizer + WordPiece tokenizers, in C
            "wordpiece": enabled and compiled and hasattr(mod, "wordpiece_new"),
            # SentencePiece Unigram (Precompiled, NF*, Lowercase, Metaspace, Whitespace, ...; see unigram.py), in C
            "unigram": enabled and compiled and hasattr(mod, "unigram_new"),
            # added tokens (special, single_word / lstrip / rstrip, model2vec's multi-word normalized
            # entries) matched in C for both, as tokenizers' AddedVocabulary (csrc/added.c)
            "added_tokens": enabled and compiled and hasattr(mod, "added_fuzz_one"),
            "enabled": enabled,  # FASTEMBED_CORE_FAST_TOKENIZER=0 turns it off
        },
    }


def _compiled_features() -> dict[str, bool]:
    """The CPU's features even under the numpy backend, when the extension exists."""
    try:
        return _backend.load("compiled").cpu_features()
    except ImportError:
        return {}


def _emulated_simd() -> bool:
    """Whether the extension (if any) is the SIMDe emulation build."""
    try:
        return bool(_backend.load("compiled").EMULATED_SIMD)
    except ImportError:
        return False
