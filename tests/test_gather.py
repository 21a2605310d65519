"""gather_mean: compiled == numpy reference == a plain Python oracle; bad input raises on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compiled_variants, scaled
from hypothesis import given, settings
from hypothesis import strategies as st

import fastembed_core as fe
from fastembed_core import _backend

DTYPES = ["float32", "float16", "int8"]
DIMS = [0, 1, 7, 63, 64, 65, 130, 256, 1000]


def oracle(table, ids, offsets, weights=None, mapping=None, scales=None, normalize=False):
    """Row by row in float64: the definition."""
    n, dim = len(offsets) - 1, table.shape[1]
    out = np.zeros((n, dim))
    for b in range(n):
        bag = ids[offsets[b] : offsets[b + 1]]
        for t in bag:
            r = mapping[t] if mapping is not None else t
            f = (weights[t] if weights is not None else 1.0) * (scales[r] if scales is not None else 1.0)
            out[b] += table[r].astype(np.float64) * f
        if len(bag):
            out[b] /= len(bag)
        if normalize:
            out[b] /= np.linalg.norm(out[b]) + 1e-32
    return out


def make(rng, rows, dim, dtype, n_bags, max_len=20, empty_frac=0.2):
    t = rng.standard_normal((rows, dim)) * (30 if dtype == "int8" else 1)
    table = np.clip(t, -127, 127).astype(dtype)
    lengths = rng.integers(0, max_len, n_bags)
    lengths[rng.random(n_bags) < empty_frac] = 0
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    ids = rng.integers(0, rows, int(offsets[-1])).astype(np.int32)
    return table, ids, offsets


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-5 if dtype == "int8" else 2e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("normalize", [False, True])
def test_matches_oracle(backend, dtype, dim, normalize):
    rng = np.random.default_rng(dim)
    table, ids, offsets = make(rng, 40, dim, dtype, 33)
    got = fe.gather_mean(table, ids, offsets, normalize=normalize)
    assert got.dtype == np.float32 and got.shape == (33, dim)
    np.testing.assert_allclose(got, oracle(table, ids, offsets, normalize=normalize), **tol(dtype))


@pytest.mark.parametrize("variant", compiled_variants("gather_mean"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", DIMS)
def test_variants_match_numpy(variant, dtype, dim):
    rng = np.random.default_rng(7 + dim)
    v = 50
    table, ids, offsets = make(rng, 17, dim, dtype, 65, max_len=40)
    mapping = rng.integers(0, 17, v)
    ids = rng.integers(0, v, len(ids))
    weights = rng.uniform(0.1, 3, v)
    scales = rng.uniform(0.01, 1, 17)
    for kw in ({}, dict(mapping=mapping), dict(mapping=mapping, weights=weights, scales=scales, normalize=True)):
        bag_ids = ids if kw else ids % 17
        with _backend.using("numpy"):
            ref = fe.gather_mean(table, bag_ids, offsets, **kw)
        with _backend.using("compiled"), _backend.variant("gather_mean", variant):
            got = fe.gather_mean(table, bag_ids, offsets, **kw)
        np.testing.assert_allclose(got, ref, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_mapping_scales(backend, dtype):
    rng = np.random.default_rng(1)
    table, _, offsets = make(rng, 11, 37, dtype, 20)
    v = 30
    ids = rng.integers(0, v, int(offsets[-1]))
    mapping = rng.integers(0, 11, v).astype(np.int64)
    weights = rng.uniform(-2, 2, v)
    scales = rng.uniform(0.01, 1, 11).astype(np.float32)
    got = fe.gather_mean(table, ids, offsets, weights=weights, mapping=mapping, scales=scales, normalize=True)
    want = oracle(table, ids, offsets, weights.astype(np.float32), mapping, scales, normalize=True)
    np.testing.assert_allclose(got, want, **tol(dtype))


def test_empty_inputs(backend):
    table = np.ones((5, 8), np.float32)
    assert fe.gather_mean(table, [], [0]).shape == (0, 8)
    out = fe.gather_mean(table, np.array([], np.int32), [0, 0, 0], normalize=True)
    assert out.shape == (2, 8) and not out.any() and np.isfinite(out).all()
    assert fe.gather_mean(np.ones((0, 8), np.float32), [], [0, 0, 0]).shape == (2, 8)
    assert fe.gather_mean(np.ones((5, 0), np.float32), [1, 2], [0, 2]).shape == (1, 0)


def test_offsets_not_starting_at_zero_and_unused_tail(backend):
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = np.array([5, 1, 2, 3, 4], np.int64)
    got = fe.gather_mean(table, ids, [1, 3, 4])
    np.testing.assert_allclose(got, [[3, 4], [6, 7]])


def test_non_contiguous_inputs(backend):
    rng = np.random.default_rng(3)
    big = rng.standard_normal((30, 100)).astype(np.float32)
    table = big[::2, 10:74]  # row stride 200 floats, columns contiguous
    table_f = np.asfortranarray(big[:15, :64])
    ids = rng.integers(0, 15, 200)[::2]
    offsets = np.arange(0, 101, 5)
    for t in (table, table_f):
        np.testing.assert_allclose(fe.gather_mean(t, ids, offsets), oracle(np.asarray(t), ids, offsets), rtol=2e-5, atol=2e-6)
    readonly = np.array(table)
    readonly.setflags(write=False)
    np.testing.assert_allclose(fe.gather_mean(readonly, ids, offsets), fe.gather_mean(table, ids, offsets))


def test_float64_table_converted(backend):
    t = np.random.default_rng(0).standard_normal((4, 9))
    np.testing.assert_allclose(fe.gather_mean(t, [0, 1, 3], [0, 3]), oracle(t, [0, 1, 3], [0, 3]), rtol=1e-6)


def test_thread_count_does_not_change_results(backend):
    rng = np.random.default_rng(5)
    table, ids, offsets = make(rng, 500, 96, "float16", 3000, max_len=60)
    one = fe.gather_mean(table, ids, offsets, normalize=True, num_threads=1)
    for n in (2, 3, 8):
        np.testing.assert_array_equal(fe.gather_mean(table, ids, offsets, normalize=True, num_threads=n), one)


def test_concurrent_calls(backend):
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(6)
    table, ids, offsets = make(rng, 300, 64, "float32", 2000, max_len=30)
    want = fe.gather_mean(table, ids, offsets, num_threads=1)
    with ThreadPoolExecutor(4) as ex:
        outs = list(ex.map(lambda _: fe.gather_mean(table, ids, offsets, num_threads=2), range(8)))
    for o in outs:
        np.testing.assert_array_equal(o, want)


def test_nan_policy(backend):
    table = np.ones((3, 4), np.float32)
    table[1, 2] = np.nan
    out = fe.gather_mean(table, [0, 1, 2], [0, 1, 3])
    assert np.isfinite(out[0]).all() and np.isnan(out[1, 2])  # NaN propagates into the bags using it
    with pytest.raises(ValueError, match="weights"):
        fe.gather_mean(np.ones((3, 4), np.float32), [0], [0, 1], weights=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="scales"):
        fe.gather_mean(np.ones((3, 4), np.int8), [0], [0, 1], scales=[1.0, np.inf, 1.0])


BAD = [
    (dict(ids=[0, 5]), ValueError, "ids out of range"),
    (dict(ids=[0, -1]), ValueError, "ids must be >= 0"),
    (dict(ids=[0.0, 1.0]), TypeError, "ids must hold integers"),
    (dict(ids=[[0, 1]]), ValueError, "ids must be 1-D"),
    (dict(offsets=[0, 2, 1]), ValueError, "offsets must be non-decreasing"),
    (dict(offsets=[0, 3]), ValueError, "offsets run past the end"),
    (dict(offsets=[-1, 2]), ValueError, "offsets must be >= 0"),
    (dict(offsets=[]), ValueError, "offsets must have length"),
    (dict(table=np.ones(5, np.float32)), ValueError, "table must be 2-D"),
    (dict(table=np.ones((5, 2), np.int32)), TypeError, "table dtype"),
    (dict(table=np.ones((5, 2), np.complex64)), TypeError, "table dtype"),
    (dict(weights=[1.0, 2.0]), ValueError, "weights has length 2, expected 5"),
    (dict(weights=np.ones((5, 1))), ValueError, "weights must be 1-D"),
    (dict(mapping=[0, 1, 9]), ValueError, "mapping values must lie in"),
    (dict(mapping=[0.5, 1.0]), TypeError, "mapping must hold integers"),
    (dict(ids=[0, 4], mapping=[0, 1, 2]), ValueError, "ids out of range"),
    (dict(scales=[1.0]), ValueError, "scales has length 1"),
    (dict(num_threads=0), ValueError, "num_threads"),
    (dict(normalize="yes"), TypeError, "normalize"),
]


@pytest.mark.parametrize("kwargs,exc,msg", BAD)
def test_bad_input(backend, kwargs, exc, msg):
    args = dict(table=np.ones((5, 2), np.float32), ids=[0, 1], offsets=[0, 2])
    args.update(kwargs)
    table, ids, offsets = args.pop("table"), args.pop("ids"), args.pop("offsets")
    with pytest.raises(exc, match=msg):
        fe.gather_mean(table, ids, offsets, **args)


def test_ternary_and_float_tables_share_one_validator_and_one_kernel_entry(backend, monkeypatch):
    """A TernaryMatrix is one more table dtype of gather_mean: same checks, same kernel function."""
    from fastembed_core import _backend, _validate

    dense = np.random.default_rng(0).standard_normal((6, 130)).astype(np.float32)
    tern = fe.ternarize(dense)
    bag_checks, kernel_calls = [], []
    real_check, real_kernel = _validate.check_bags, _backend.kernels.gather_mean

    def check(*args, **kwargs):
        bag_checks.append(1)
        return real_check(*args, **kwargs)

    def kernel(table, *args, **kwargs):
        kernel_calls.append(table.dtype)
        return real_kernel(table, *args, **kwargs)

    monkeypatch.setattr(_validate, "check_bags", check)
    monkeypatch.setattr(_backend.kernels, "gather_mean", kernel)
    ids, offsets = np.array([1, 2, 3, 5], np.int64), [0, 1, 4]
    got_t = fe.gather_mean(tern, ids, offsets, weights=np.ones(6))
    got_f = fe.gather_mean(tern.to_dense(), ids, offsets, weights=np.ones(6))
    assert bag_checks == [1, 1] and kernel_calls == [np.uint8, np.float32]
    np.testing.assert_array_equal(got_t, got_f)  # exact: products of -1/0/1 with a float32 scale
    for bad in (dict(ids=[0, 6]), dict(offsets=[0, 5]), dict(weights=[1.0])):
        args = {"ids": ids, "offsets": offsets, **bad}
        with pytest.raises(ValueError) as e_t:
            fe.gather_mean(tern, args["ids"], args["offsets"], weights=args.get("weights"))
        with pytest.raises(ValueError) as e_f:
            fe.gather_mean(dense, args["ids"], args["offsets"], weights=args.get("weights"))
        assert str(e_t.value) == str(e_f.value)


def test_model_validates_mapping_once_not_per_batch(backend, monkeypatch):
    """StaticModel checks mapping/weights at construction; encode's batches reuse them as they are."""
    from fastembed_core import gather
    import _models

    tok = _models.tiny_tokenizer()
    v = tok.get_vocab_size()
    rng = np.random.default_rng(1)
    for table in (rng.standard_normal((7, 130)).astype(np.float32), fe.ternarize(rng.standard_normal((7, 130)))):
        model = fe.StaticModel(table, tok, mapping=rng.integers(0, 7, v), weights=rng.random(v))
        assert model.mapping.dtype == np.int32 and model.weights.dtype == np.float32
        before = model.encode(["a b", "c"], batch_size=1)
        monkeypatch.setattr(gather, "check_mapping", lambda *a: pytest.fail("mapping re-validated"))
        monkeypatch.setattr(gather, "check_weights", lambda *a: pytest.fail("weights re-validated"))
        np.testing.assert_array_equal(model.encode(["a b", "c"], batch_size=1), before)
        monkeypatch.undo()


@settings(max_examples=scaled(60), deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    dim=st.integers(0, 80),
    lengths=st.lists(st.integers(0, 12), min_size=0, max_size=25),
    normalize=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_compiled_equals_numpy(dtype, dim, lengths, normalize, seed):
    rng = np.random.default_rng(seed)
    rows = 9
    table = np.clip(rng.standard_normal((rows, dim)) * 20, -127, 127).astype(dtype)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    ids = rng.integers(0, rows, int(offsets[-1]))
    weights = rng.uniform(0, 2, rows)
    results = []
    for name in ["compiled", "numpy"] if compiled_variants("gather_mean") else ["numpy"]:
        with _backend.using(name):
            results.append(fe.gather_mean(table, ids, offsets, weights=weights, normalize=normalize))
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], **tol(dtype))
    np.testing.assert_allclose(results[0], oracle(table, ids, offsets, weights.astype(np.float32), normalize=normalize), **tol(dtype))


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf - inf in model2vec's float32 sum
@pytest.mark.parametrize("variant", compiled_variants("gather_mean") + ["numpy"])
@pytest.mark.parametrize("dim", [2, 7, 63, 64, 65, 130, 256])
@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_round_product_f16_bits(variant, dim, dtype):
    """float16 or int8 table x float16 weights (model2vec's vocabulary-quantized float16 models, with or
    without int8 quantization): each product rounded to float16, as numpy multiplies them, then the
    float32 sum and the float16 mean. Every
    variant gives numpy's bits; the rounding changes them (so the check can fail); subnormal and
    overflowing (inf) products included."""
    rng = np.random.default_rng(dim)
    rows, v = 13, 40
    if dtype == "int8":
        table = rng.integers(-128, 128, (rows, dim)).astype(np.int8)
    else:
        table = (rng.standard_normal((rows, dim)) * rng.choice([1e-4, 1.0, 300.0], (rows, 1))).astype(np.float16)
    weights16 = rng.choice([1e-3, 0.7, 1.3, 250.0, 600.0], v) * rng.uniform(0.5, 1.5, v)
    weights = weights16.astype(np.float16).astype(np.float32)
    mapping = rng.integers(0, rows, v).astype(np.int32)
    lengths = rng.integers(0, 30, 21)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    ids = rng.integers(0, v, int(offsets[-1])).astype(np.int32)
    # model2vec 0.10's expressions (float16 product, float32 sum, float16 mean), per bag
    want = np.zeros((len(lengths), dim), np.float16)  # (stored as float32 for int8 tables: the same values)
    with np.errstate(over="ignore"):
        for b in range(len(lengths)):
            bag = ids[offsets[b] : offsets[b + 1]]
            if len(bag):
                want[b] = (table[mapping[bag]] * weights.astype(np.float16)[bag][:, None]).mean(axis=0)

    def pool(round_product: bool) -> np.ndarray:
        out = np.empty((len(lengths), dim), np.float32)
        with _backend.using("numpy" if variant == "numpy" else "compiled"), np.errstate(over="ignore", invalid="ignore"):
            if variant == "numpy":
                _backend.kernels.gather_mean(table, ids, offsets, mapping, weights, None, False, out, 0, len(lengths),
                                             round_f16=True, round_product_f16=round_product)
            else:
                with _backend.variant("gather_mean", variant):
                    _backend.kernels.gather_mean(table, ids, offsets, mapping, weights, None, False, out, 0,
                                                 len(lengths), round_f16=True, round_product_f16=round_product)
        return out

    with np.errstate(over="ignore"):
        products = table[mapping[ids]] * weights.astype(np.float16)[ids][:, None]
    if dim >= 7:  # the data reaches both ends of float16
        assert np.isinf(products).any() and ((products != 0) & (np.abs(products) < np.float16(6.1e-5))).any() == (
            dtype == "float16")  # int8 x weights >= 5e-4 never reaches float16's subnormals
    got = pool(True)
    np.testing.assert_array_equal(got.astype(np.float16).view(np.uint16), want.view(np.uint16))
    assert (pool(False) != got).any()  # without the product rounding the bits differ


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_round_product_f16_needs_a_float16_or_int8_table(backend, dtype):
    table = np.ones((3, 4), dtype)
    out = np.empty((1, 4 if dtype == "float32" else 16), np.float32)
    scales = None if dtype == "float32" else np.ones(3, np.float32)
    with pytest.raises(ValueError, match="float16 and int8 tables only"):
        _backend.kernels.gather_mean(table, np.zeros(1, np.int32), np.array([0, 1], np.int64), None, None, scales,
                                     False, out, 0, 1, round_product_f16=True)
