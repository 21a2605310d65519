"""Property tests (hypothesis) filling the gaps of the per-family suites.

What the family tests already cover is not repeated (gather_mean dtypes x dims x ragged bags,
hamming_topk sizes/ties/threads, WordPiece arbitrary Unicode). Here: every SIMD variant on random
shapes with mapping/scales/int64 ids/strided and misaligned buffers/thread counts; distances on
strided and int8 codes; pack/unpack round trips; BinaryIndex search == hamming_topk; and invalid
input: both backends raise the same exception type and message, or both succeed identically.
"""

from __future__ import annotations

import contextlib

import numpy as np
from conftest import compiled_variants, scaled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastembed_core as fe
from fastembed_core import _backend

BACKENDS = ["compiled", "numpy"] if compiled_variants("gather_mean") else ["numpy"]
SETTINGS = settings(max_examples=scaled(50), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def runs(kernel: str):
    """(backend, variant) pairs: the numpy reference first, then every compiled variant this CPU has."""
    yield "numpy", None
    if "compiled" in BACKENDS:
        for v in compiled_variants(kernel):
            yield "compiled", v


@contextlib.contextmanager
def route(backend: str, kernel: str, variant: str | None):
    with _backend.using(backend):
        with _backend.variant(kernel, variant) if variant else contextlib.nullcontext():
            yield


def misaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` whose data pointer is 1 byte off alignment (as a memory-mapped tensor may be)."""
    if a.itemsize == 1 or a.size == 0:
        return a
    buf = np.empty(a.nbytes + 1, np.uint8)
    out = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


def strided(a: np.ndarray) -> np.ndarray:
    """A non-contiguous view with the same values (every other element of a 2x copy, along axis 0)."""
    big = np.repeat(a, 2, axis=0)
    return big[::2]


@SETTINGS
@given(
    dtype=st.sampled_from(["float32", "float16", "int8"]),
    dim=st.integers(1, 70),
    lengths=st.lists(st.integers(0, 10), max_size=20),
    use_mapping=st.booleans(),
    use_weights=st.booleans(),
    use_scales=st.booleans(),
    ids_dtype=st.sampled_from(["int32", "int64", "uint16"]),
    layout=st.sampled_from(["contiguous", "strided", "misaligned"]),
    first=st.integers(0, 3),
    threads=st.integers(1, 4),
    normalize=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gather_mean_every_variant_and_layout(dtype, dim, lengths, use_mapping, use_weights, use_scales, ids_dtype,
                                              layout, first, threads, normalize, seed):
    rng = np.random.default_rng(seed)
    rows, vocab = 11, 17
    table = np.clip(rng.standard_normal((rows, dim)) * (30 if dtype == "int8" else 1), -127, 127).astype(dtype)
    offsets = (first + np.r_[0, np.cumsum(lengths)]).astype(np.int64)
    n_ids = vocab if use_mapping else rows
    ids = rng.integers(0, n_ids, int(offsets[-1]) + rng.integers(0, 3)).astype(ids_dtype)
    kw = {}
    if use_mapping:
        kw["mapping"] = rng.integers(0, rows, vocab)
    if use_weights:
        kw["weights"] = rng.uniform(0.1, 2, n_ids).astype(np.float32)
    if use_scales:
        kw["scales"] = rng.uniform(0.1, 2, rows).astype(np.float32)
    shape_fix = {"contiguous": lambda a: a, "strided": strided, "misaligned": misaligned}[layout]
    table_in, ids_in, offsets_in = shape_fix(table), shape_fix(ids), shape_fix(offsets)
    kw_in = {k: shape_fix(v) for k, v in kw.items()}
    want = None
    for backend, variant in runs("gather_mean"):
        with route(backend, "gather_mean", variant):
            got = fe.gather_mean(table_in, ids_in, offsets_in, normalize=normalize, num_threads=threads, **kw_in)
        assert got.shape == (len(offsets) - 1, dim) and got.dtype == np.float32
        if want is None:
            want = got
        else:
            np.testing.assert_allclose(got, want, rtol=2e-6 if dtype != "float16" else 1e-3, atol=1e-6,
                                       err_msg=f"{backend}/{variant}")


@SETTINGS
@given(
    width=st.integers(1, 70),
    na=st.integers(1, 9),
    nb=st.integers(1, 150),
    signed=st.booleans(),
    layout=st.sampled_from(["contiguous", "strided"]),
    threads=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_hamming_every_variant_strided_and_int8(width, na, nb, signed, layout, threads, seed, data):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (na, width), dtype=np.uint8)
    b = rng.integers(0, 256, (nb, width), dtype=np.uint8)
    bits = lambda x: np.unpackbits(x, axis=1).astype(np.int32)  # noqa: E731
    want = (bits(a)[:, None, :] != bits(b)[None, :, :]).sum(2)
    order = np.lexsort((np.broadcast_to(np.arange(nb), want.shape), want), axis=1)
    k = data.draw(st.integers(1, nb))
    if signed:
        a, b = (a ^ 0x80).view(np.int8), (b ^ 0x80).view(np.int8)
    if layout == "strided":
        a, b = strided(a), strided(b)
    for kernel in ("hamming_distance", "hamming_topk"):
        for backend, variant in runs(kernel):
            with route(backend, kernel, variant):
                if kernel == "hamming_distance":
                    np.testing.assert_array_equal(fe.hamming_distance(a, b, num_threads=threads), want)
                else:
                    d, i = fe.hamming_topk(a, b, k, num_threads=threads)
                    np.testing.assert_array_equal(i, order[:, :k])
                    np.testing.assert_array_equal(d, np.take_along_axis(want, order[:, :k], axis=1))


@SETTINGS
@given(n=st.integers(0, 20), dim=st.integers(1, 100), per_dim=st.booleans(),
       dtype=st.sampled_from(["float32", "float64", "float16", "int16"]), seed=st.integers(0, 2**16))
def test_pack_unpack_round_trip(n, dim, per_dim, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, dim)) * 3).astype(dtype)
    t = np.asarray(rng.standard_normal(dim) if per_dim else rng.standard_normal()).astype(x.dtype if x.dtype.kind == "f" else "float64")
    for backend in BACKENDS:
        with _backend.using(backend):
            c = fe.pack_bits(x, threshold=t)
            np.testing.assert_array_equal(c, np.packbits(x > t, axis=1))
            np.testing.assert_array_equal(fe.unpack_bits(c, dim), (x > t).astype(np.uint8))


@SETTINGS
@given(n=st.integers(1, 200), dim=st.sampled_from([8, 24, 64, 100]), nq=st.integers(1, 5),
       keep=st.sampled_from(["float32", "int8", None]), seed=st.integers(0, 2**16), data=st.data())
def test_index_binary_search_equals_hamming_topk(n, dim, nq, keep, seed, data):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    q = rng.standard_normal((nq, dim)).astype(np.float32)
    k = data.draw(st.integers(1, n))
    index = fe.BinaryIndex(dim, keep=keep)
    index.add(x)
    for backend in BACKENDS:
        with _backend.using(backend):
            scores, ids = index.search(q, k, rescore=False)
            d, i = fe.hamming_topk(fe.pack_bits(q), fe.pack_bits(x), k)
            np.testing.assert_array_equal(ids, i)
            np.testing.assert_array_equal(scores, -d)


def _outcome(fn):
    try:
        return "ok", fn()
    except (ValueError, TypeError) as exc:
        return type(exc).__name__, str(exc)


@SETTINGS
@given(
    ids=st.lists(st.integers(-3, 12), max_size=12),
    offsets=st.lists(st.integers(-2, 14), min_size=0, max_size=6),
    ids_dtype=st.sampled_from(["int32", "int64", "float64", "uint8"]),
    weights_len=st.sampled_from([None, 9, 10]),
    k=st.integers(-1, 6),
    width=st.sampled_from([0, 1, 2]),
)
def test_both_backends_raise_together(ids, offsets, ids_dtype, weights_len, k, width):
    """Random, mostly invalid arguments: same exception type and message, or the same result."""
    table = np.arange(40, dtype=np.float32).reshape(10, 4)
    weights = None if weights_len is None else np.ones(weights_len)
    a = np.arange(6 * 2, dtype=np.uint8).reshape(6, 2)[:, :width] if width else np.zeros((6, 0), np.uint8)
    calls = [
        lambda: fe.gather_mean(table, np.array(ids).astype(ids_dtype), np.array(offsets, dtype=np.int64), weights=weights),
        lambda: fe.hamming_topk(a[:2], a, k),
        lambda: fe.hamming_distance(a, a[:, :1]),
    ]
    for call in calls:
        results = []
        for backend in BACKENDS:
            with _backend.using(backend):
                results.append(_outcome(call))
        kinds = {r[0] for r in results}
        assert len(kinds) == 1, results
        if results[0][0] != "ok":
            assert len({r[1] for r in results}) == 1, results
        else:
            for r in results[1:]:
                if isinstance(r[1], tuple):
                    for x, y in zip(r[1], results[0][1]):
                        np.testing.assert_array_equal(x, y)
                else:
                    np.testing.assert_array_equal(r[1], results[0][1])


@SETTINGS
@given(m=st.integers(0, 9), k=st.integers(1, 200), n=st.integers(1, 20), scale=st.sampled_from(["row", "tensor"]),
       layout=st.sampled_from(["contiguous", "strided", "misaligned", "float64", "1-D"]), threads=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_ternary_matmul_layouts_every_variant(m, k, n, scale, layout, threads, seed):
    rng = np.random.default_rng(seed)
    w = fe.ternarize(rng.standard_normal((n, k)).astype(np.float32), scale=scale)
    x = rng.standard_normal((m, k)).astype(np.float32)
    if layout == "1-D":
        x = x[0] if m else rng.standard_normal(k).astype(np.float32)
    x_in = {"contiguous": x, "strided": strided(x) if x.ndim == 2 else x, "misaligned": misaligned(x),
            "float64": x.astype(np.float64), "1-D": x}[layout]
    want = None
    for backend, variant in runs("ternary_matmul"):
        with route(backend, "ternary_matmul", variant):
            got = fe.ternary_matmul(x_in, w, num_threads=threads)
        if want is None:
            want = got
        np.testing.assert_array_equal(got, want, err_msg=f"{backend}/{variant}")


@SETTINGS
@given(rows=st.integers(1, 12), k=st.integers(1, 150), lengths=st.lists(st.integers(0, 8), max_size=12),
       use_mapping=st.booleans(), use_weights=st.booleans(), layout=st.sampled_from(["contiguous", "strided", "misaligned"]),
       normalize=st.booleans(), threads=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_ternary_gather_mean_layouts_every_variant(rows, k, lengths, use_mapping, use_weights, layout, normalize,
                                                   threads, seed):
    rng = np.random.default_rng(seed)
    table = fe.ternarize(rng.standard_normal((rows, k)).astype(np.float32))
    vocab = 15 if use_mapping else rows
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    ids = rng.integers(0, vocab, int(offsets[-1]))
    kw = {}
    if use_mapping:
        kw["mapping"] = rng.integers(0, rows, vocab)
    if use_weights:
        kw["weights"] = rng.uniform(0.1, 2, vocab).astype(np.float32)
    fix = {"contiguous": lambda a: a, "strided": strided, "misaligned": misaligned}[layout]
    want = None
    for backend, variant in runs("gather_mean"):  # a ternary table is a gather_mean dtype
        with route(backend, "gather_mean", variant):
            got = fe.ternary_gather_mean(table, fix(ids), fix(offsets), normalize=normalize, num_threads=threads,
                                         **{a: fix(b) for a, b in kw.items()})
        if want is None:
            want = got
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{backend}/{variant}")

