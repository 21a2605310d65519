"""Ternary weights: ternarize, packing, ternary_matmul and ternary_gather_mean on both backends."""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastembed_core as fe
from fastembed_core import _backend
from fastembed_core import ternary as ternary_mod
from fastembed_core._ref import ternary as ref
from fastembed_core.gather import gather_mean as fe_gather_mean
from fastembed_core.ternary import TernaryMatrix, TernaryLinear, ternarize, ternary_gather_mean, ternary_matmul

from conftest import compiled_variants, scaled

MM_VARIANTS = compiled_variants("ternary_matmul")
Q_VARIANTS = compiled_variants("ternary_quantize")
G_VARIANTS = compiled_variants("gather_mean")  # a ternary table is one more dtype of gather_mean
SIZES = [0, 1, 7, 63, 64, 65, 1000]


def rng(seed=0):
    return np.random.default_rng(seed)


def random_ternary(n, k, seed=0, scale="row"):
    r = rng(seed)
    return ternarize(r.standard_normal((n, k)).astype(np.float32), scale=scale)


def quantize_np(x, kp):
    m = x.shape[0]
    q, s, qs = np.empty((m, kp), np.int8), np.empty(m, np.float32), np.empty(m, np.int32)
    ref.ternary_quantize(np.ascontiguousarray(x, np.float32), q, s, qs)
    return q, s, qs


def acc_with(mod, q, qs, packed, il=None):
    acc = np.full((q.shape[0], packed.shape[0]), -7, np.int32)
    mod.ternary_matmul_acc(q, qs, packed, acc, il)
    return acc


def exact_acc(q, tm):
    return q[:, : tm.shape[1]].astype(np.int64) @ tm.values.astype(np.int64).T


# ---- packing and the TernaryMatrix container ------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 127, 128, 129, 300, 384])
def test_pack_roundtrip_and_layout(k):
    v = rng(k).integers(-1, 2, size=(9, k)).astype(np.int8)
    tm = TernaryMatrix.from_values(v, np.ones(9, np.float32))
    assert np.array_equal(tm.values, v)
    kp = -(-k // 128) * 128
    assert tm.packed.shape == (9, kp // 4) and tm.packed.dtype == np.uint8
    # the documented layout: bits 2p of byte i of block b <-> weight 128b + 32p + i, code = w + 1
    for j in (0, k // 2, k - 1):
        b, rest = divmod(j, 128)
        p, i = divmod(rest, 32)
        assert (tm.packed[3, 32 * b + i] >> (2 * p)) & 3 == v[3, j] + 1
    again = TernaryMatrix(tm.packed.copy(), tm.scales, tm.shape)
    assert np.array_equal(again.values, v)


def test_nbytes_at_most_one_fifteenth_of_float32():
    tm = random_ternary(2048, 2048)
    assert tm.nbytes <= 2048 * 2048 * 4 / 15
    tm = random_ternary(1536, 384)
    assert tm.nbytes <= 1536 * 384 * 4 / 15


def test_to_dense_is_scales_times_values():
    tm = random_ternary(5, 40)
    assert np.array_equal(tm.to_dense(), tm.values.astype(np.float32) * tm.scales[:, None])
    tt = random_ternary(5, 40, scale="tensor")
    assert tt.scales.shape == ()
    assert np.array_equal(tt.to_dense(), tt.values.astype(np.float32) * tt.scales)


def test_save_load_roundtrip(tmp_path):
    for scale in ("row", "tensor"):
        tm = random_ternary(33, 130, scale=scale)
        p = tmp_path / f"w-{scale}.safetensors"
        tm.save(p)
        back = TernaryMatrix.load(p)
        assert back.shape == tm.shape
        assert np.array_equal(back.packed, tm.packed) and np.array_equal(back.scales, tm.scales)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["w-row.safetensors", "w-tensor.safetensors"]


def test_load_rejects_corrupt_files(tmp_path):
    from safetensors.numpy import save_file

    tm = random_ternary(4, 130)
    good = {"format": "fastembed_core.ternary", "version": "1", "shape": "[4, 130]"}
    bad_codes = tm.packed.copy()
    bad_codes[1, 3] |= 0b11
    cases = {
        "codes": ({"packed": bad_codes, "scales": tm.scales}, good, "code 3"),
        "length": ({"packed": tm.packed[:, :-1].copy(), "scales": tm.scales}, good, "packed must have shape"),
        "scales": ({"packed": tm.packed, "scales": tm.scales[:3].copy()}, good, "scales"),
        "dtype": ({"packed": tm.packed, "scales": tm.scales.astype(np.float64)}, good, "float32"),
        "format": ({"packed": tm.packed, "scales": tm.scales}, {"format": "x"}, "not a fastembed_core"),
    }
    for name, (tensors, meta, msg) in cases.items():
        p = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(p), metadata=meta)
        with pytest.raises(ValueError, match=msg):
            TernaryMatrix.load(p)
    p = tmp_path / "trunc.safetensors"
    tm.save(p)
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ValueError):
        TernaryMatrix.load(p)


def test_constructor_rejects_bad_packed():
    tm = random_ternary(3, 130)
    with pytest.raises(TypeError, match="packed"):
        TernaryMatrix(tm.packed.astype(np.int16), tm.scales, tm.shape)
    with pytest.raises(ValueError, match="packed must have shape"):
        TernaryMatrix(tm.packed[:, :10], tm.scales, tm.shape)
    pad = tm.packed.copy()
    pad[0, -1] = 0  # codes 0 in the padding
    with pytest.raises(ValueError, match="padding"):
        TernaryMatrix(pad, tm.scales, tm.shape)
    with pytest.raises(ValueError, match="scales"):
        TernaryMatrix(tm.packed, np.ones(2, np.float32), tm.shape)
    with pytest.raises(ValueError, match="scales"):
        TernaryMatrix(tm.packed, np.array([1, np.nan, 1], np.float32), tm.shape)
    with pytest.raises(ValueError, match="values"):
        TernaryMatrix.from_values(np.array([[0, 2]]), 1.0)


# ---- ternarize ------------------------------------------------------------------------------------


def test_ternarize_tensor_is_bitnet():
    w = rng(1).standard_normal((20, 50)).astype(np.float32)
    tm = ternarize(w, scale="tensor")
    a = np.abs(w.astype(np.float64)).mean()
    assert np.array_equal(tm.values, np.clip(np.rint(w / a), -1, 1).astype(np.int8))
    assert tm.scales == np.float32(a)


def test_ternarize_row_ls_scale():
    w = rng(2).standard_normal((20, 50)).astype(np.float32)
    tm = ternarize(w)  # row + least squares
    w64 = w.astype(np.float64)
    a = np.abs(w64).mean(axis=1, keepdims=True)
    t = np.clip(np.rint(w64 / a), -1, 1)
    assert np.array_equal(tm.values, t.astype(np.int8))
    ls = (np.abs(w64) * (t != 0)).sum(1) / (t != 0).sum(1)
    assert np.allclose(tm.scales, ls, rtol=1e-6)
    # LS scale minimises ||w - s t|| for this t
    for s_try in (ls * 0.98, ls * 1.02):
        assert ((w64 - tm.scales[:, None] * t) ** 2).sum() <= ((w64 - s_try[:, None] * t) ** 2).sum()
    am = ternarize(w, fit="absmean")
    assert np.allclose(am.scales, a[:, 0], rtol=1e-6)


def test_ternarize_threshold_option():
    w = rng(3).standard_normal((10, 64)).astype(np.float32)
    tm = ternarize(w, threshold=2.0)
    a = np.abs(w.astype(np.float64)).mean(axis=1, keepdims=True)
    assert np.array_equal(tm.values, (np.sign(w) * (np.abs(w) > 2 * a)).astype(np.int8))
    assert (tm.values != 0).mean() < (ternarize(w).values != 0).mean()


def test_ternarize_zero_rows_and_bad_input():
    w = np.zeros((3, 10), np.float32)
    w[1, 2] = 1.0
    tm = ternarize(w)
    assert np.array_equal(tm.scales, [0, 1, 0]) and tm.values[1, 2] == 1
    with pytest.raises(ValueError, match="scale"):
        ternarize(w, scale="col")
    with pytest.raises(ValueError, match="w"):
        ternarize(w[0])
    with pytest.raises(ValueError, match="non-finite"):
        ternarize(np.array([[1.0, np.inf]]))
    with pytest.raises(TypeError, match="w"):
        ternarize(np.array([["a"]]))
    with pytest.raises(ValueError, match="threshold"):
        ternarize(w, threshold=-1)


# ---- quantisation -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", Q_VARIANTS)
def test_quantize_variants_match_numpy(variant):
    r = rng(4)
    x = (r.standard_normal((50, 301)) * r.uniform(1e-3, 1e3, size=(50, 1))).astype(np.float32)
    x[3] = 0
    x[4, ::2] = 0.5  # exact halves after scaling hit round-half-to-even
    x[4, 1] = 127.0
    x[5] = np.float32(1e-40) * r.standard_normal(301).astype(np.float32)  # subnormal: s clamps to FLT_MAX
    mod = _backend.load("compiled")
    want = quantize_np(x, 384)
    got = tuple(np.empty_like(a) for a in want)
    with _backend.variant("ternary_quantize", variant):
        mod.ternary_quantize(x, *got)
    for a, b in zip(want, got):
        assert np.array_equal(a, b)
    assert np.array_equal(want[0][3], np.zeros(384)) and want[1][3] == 1
    assert np.all(np.isfinite(want[1]))


@pytest.mark.parametrize("variant", Q_VARIANTS)
def test_quantize_reports_non_finite(variant):
    mod = _backend.load("compiled")
    for pos in (0, 7, 8, 31, 32, 40, 300):  # vector body and scalar tail
        for bad in (np.inf, -np.inf, np.nan):
            x = np.ones((3, 301), np.float32)
            x[2, pos] = bad
            out = (np.empty((3, 384), np.int8), np.empty(3, np.float32), np.empty(3, np.int32))
            with _backend.variant("ternary_quantize", variant):
                assert mod.ternary_quantize(x, *out) is False
            assert _backend.load("numpy").ternary_quantize(x, *out) is False
            with _backend.using("compiled"), _backend.variant("ternary_quantize", variant):
                with pytest.raises(ValueError, match="x contains non-finite"):
                    ternary_matmul(x, random_ternary(4, 301))
    assert mod.ternary_quantize(np.ones((3, 301), np.float32), *out) is True


def test_quantize_half_to_even():
    x = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -2.5, 126.5]], np.float32)
    q, s, qs = quantize_np(x, 128)
    assert s[0] == 1 and list(q[0, :7]) == [127, 0, 2, 2, 0, -2, 126] and qs[0] == q.sum()


# ---- matmul -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", SIZES)
def test_matmul_backends_agree(backend, m):
    r = rng(m)
    tm = random_ternary(65, 300, seed=m)
    x = r.standard_normal((m, 300)).astype(np.float32)
    got = ternary_matmul(x, tm, num_threads=1)
    with _backend.using("numpy"):
        want = ternary_matmul(x, tm, num_threads=1)
    assert got.shape == (m, 65) and got.dtype == np.float32
    assert np.array_equal(got, want)
    if m:
        err = np.abs(got - x @ tm.to_dense().T).max() / np.abs(x @ tm.to_dense().T).max()
        assert err < 0.03


@pytest.mark.parametrize("variant", MM_VARIANTS)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 2048, 33), (7, 129, 17), (65, 384, 70), (8, 1000, 5), (24, 128, 16), (3, 256, 0)])
def test_matmul_variants_bit_identical(variant, m, k, n):
    r = rng(m * 7 + k)
    tm = random_ternary(n, k, seed=k)
    x = r.standard_normal((m, k)).astype(np.float32)
    kp = tm.packed.shape[1] * 4
    q, s, qs = quantize_np(x, kp)
    want = exact_acc(q, tm)
    mod = _backend.load("compiled")
    assert np.array_equal(acc_with(_backend.load("numpy"), q, qs, tm.packed), want)
    il = mod.ternary_gemv_layout(tm.packed)
    with _backend.variant("ternary_matmul", variant):
        assert np.array_equal(acc_with(mod, q, qs, tm.packed), want)
        assert np.array_equal(acc_with(mod, q, qs, tm.packed, il), want)  # GEMV rows from the layout
        with _backend.using("compiled"):
            got = ternary_matmul(x, tm, num_threads=1)
    with _backend.using("numpy"):
        assert np.array_equal(got, ternary_matmul(x, tm, num_threads=1))


@pytest.mark.parametrize("variant", MM_VARIANTS)
def test_matmul_writes_only_its_output(variant):
    # row counts around the 4- and 8-row micro-kernels and 256-row boundaries, written into
    # the middle of a sentinel-filled buffer: nothing outside the [m, n] window may change
    mod = _backend.load("compiled")
    tm = random_ternary(21, 130)
    for m in (3, 8, 255, 256, 257, 258, 259, 262, 263, 511, 513, 515, 772):
        x = rng(m).standard_normal((m, 130)).astype(np.float32)
        q, s, qs = quantize_np(x, 256)
        buf = np.full((m + 4, 21 + 6), -12345, np.int32)
        fbuf = np.full((m + 4, 21 + 6), -1.5, np.float32)
        il = mod.ternary_gemv_layout(tm.packed) if m % 2 else None  # 21 rows: a partial group of 16
        with _backend.variant("ternary_matmul", variant):
            mod.ternary_matmul_acc(q, qs, tm.packed, buf[2 : m + 2, 3:24], il)
            mod.ternary_matmul_q(q, qs, s, tm.packed, tm.row_scales, fbuf[2 : m + 2, 3:24], il)
        assert np.array_equal(buf[2 : m + 2, 3:24], exact_acc(q, tm))
        for b, fill in ((buf, -12345), (fbuf, -1.5)):
            inner = np.zeros(b.shape, bool)
            inner[2 : m + 2, 3:24] = True
            assert (b[~inner] == fill).all(), m


@pytest.mark.parametrize("variant", MM_VARIANTS)
def test_no_int16_overflow(variant):
    # all |q| = 127..128 against all t = +-1 with matching signs: every int16 pair sum is extreme
    k = 4096
    mod = _backend.load("compiled")
    for sign in (1, -1):
        q = np.full((9, k), 127 if sign > 0 else -128, np.int8)
        q[1::2] = -128 if sign > 0 else 127
        qs = q.sum(axis=1, dtype=np.int64).astype(np.int32)
        for tv in (1, -1):
            tm = TernaryMatrix.from_values(np.full((17, k), tv, np.int8), np.ones(17, np.float32))
            want = exact_acc(q, tm)
            with _backend.variant("ternary_matmul", variant):
                assert np.array_equal(acc_with(mod, q, qs, tm.packed), want)
                assert np.array_equal(acc_with(mod, q, qs, tm.packed, mod.ternary_gemv_layout(tm.packed)), want)
            assert np.array_equal(acc_with(_backend.load("numpy"), q, qs, tm.packed), want)
    assert abs(want).max() == 128 * k


@pytest.mark.parametrize("variant", MM_VARIANTS)
def test_long_rows_past_the_gemv_chunk(variant):
    # k past the 512-bit GEMV's chunk of 1024 block pairs (262,144 weights), with an odd block count,
    # extreme activations and all-code-2 stretches: the scaled per-position accumulators must
    # neither wrap nor lose the exact shift back; 8 rows also take the GEMM micro-kernels. The GEMV
    # layout's chunk is the same 262,144 weights (16,384 steps of 16).
    k = 262_144 + 3 * 128 + 5
    r = rng(17)
    mod = _backend.load("compiled")
    vals = r.integers(-1, 2, size=(6, k)).astype(np.int8)
    vals[:, : k // 2] = 1
    tm = TernaryMatrix.from_values(vals, np.ones(6, np.float32))
    kp = tm.packed.shape[1] * 4
    for m in (1, 8):
        q = np.zeros((m, kp), np.int8)
        q[:, :k] = np.where(r.random((m, k)) < 0.5, -128, 127).astype(np.int8)
        qs = q.sum(axis=1, dtype=np.int64).astype(np.int32)
        want = exact_acc(q, tm)
        with _backend.variant("ternary_matmul", variant):
            assert np.array_equal(acc_with(mod, q, qs, tm.packed), want)
            assert np.array_equal(acc_with(mod, q, qs, tm.packed, mod.ternary_gemv_layout(tm.packed)), want)


# ---- the GEMV layout (a derived, row-interleaved copy of the packed rows) -------------------------


def test_gemv_layout_spec():
    # the numpy reference against the layout's definition, written out element by element
    n, k = 21, 130
    v = rng(3).integers(-1, 2, size=(n, k)).astype(np.int8)
    tm = TernaryMatrix.from_values(v, np.ones(n, np.float32))
    kp = tm.packed.shape[1] * 4
    il = ref.ternary_gemv_layout(tm.packed)
    assert il.dtype == np.uint8 and il.shape == (2 * 16 * kp // 4,)
    codes = np.ones((32, kp), np.int64)
    codes[:n, :k] = v + 1
    for g in range(2):
        for t in range(kp // 16):
            step = il[(g * (kp // 16) + t) * 64 : (g * (kp // 16) + t + 1) * 64]
            for r in range(16):
                for j in range(4):
                    b = int(step[4 * r + j])
                    assert [(b >> (2 * p)) & 3 for p in range(4)] == [codes[16 * g + r, 16 * t + 4 * p + j] for p in range(4)]


@pytest.mark.skipif(not MM_VARIANTS, reason="compiled extension not built")
@pytest.mark.parametrize("n,k", [(1, 1), (16, 128), (17, 129), (33, 384), (70, 2048), (5, 4096)])
def test_gemv_layout_compiled_equals_numpy(n, k):
    tm = random_ternary(n, k, seed=n + k)
    assert np.array_equal(_backend.load("compiled").ternary_gemv_layout(tm.packed), ref.ternary_gemv_layout(tm.packed))


@pytest.mark.skipif(not MM_VARIANTS, reason="compiled extension not built")
@pytest.mark.parametrize("variant", MM_VARIANTS)
def test_gemv_layout_is_read_where_used(variant):
    # a variant that says it reads the layout must read it (a corrupted copy changes the GEMV rows
    # and only them: every row below 32 rows, else the m % 8 last ones), one that does not must
    # ignore it; a layout of the wrong size is refused
    mod = _backend.load("compiled")
    tm = random_ternary(40, 300)
    bad = np.zeros_like(mod.ternary_gemv_layout(tm.packed))  # every code 0: weights -1
    for m, gemm_rows in ((9, 0), (31, 0), (33, 32)):
        x = rng(m).standard_normal((m, 300)).astype(np.float32)
        q, s, qs = quantize_np(x, tm.packed.shape[1] * 4)
        with _backend.variant("ternary_matmul", variant):
            got = acc_with(mod, q, qs, tm.packed, bad)
            want = exact_acc(q, tm)
            if mod.ternary_gemv_layout_used():
                assert np.array_equal(got[:gemm_rows], want[:gemm_rows])  # the GEMM micro-kernels
                all_minus_one = -q[gemm_rows:].astype(np.int64).sum(axis=1, keepdims=True) * np.ones((1, 40))
                assert np.array_equal(got[gemm_rows:], all_minus_one)  # the GEMV rows
            else:
                assert np.array_equal(got, want)
    for wrong in (bad[:-1], np.zeros(len(bad) + 64, np.uint8)):
        with pytest.raises(ValueError, match="GEMV layout"):
            acc_with(mod, q, qs, tm.packed, wrong)


def test_gemv_layout_is_derived_state(backend):
    # built lazily by the first GEMV under a kernel that reads it; never pickled
    import pickle

    tm = random_ternary(64, 256)
    assert tm._il is None
    y = ternary_matmul(rng(1).standard_normal(256).astype(np.float32), tm)
    assert (tm._il is not None) == _backend.kernels.ternary_gemv_layout_used()
    tm2 = pickle.loads(pickle.dumps(tm))
    assert tm2._il is None and tm2.shape == tm.shape and np.array_equal(tm2.packed, tm.packed)
    assert np.array_equal(ternary_matmul(rng(1).standard_normal(256).astype(np.float32), tm2), y)


def test_matmul_zero_rows_and_vector(backend):
    tm = random_ternary(20, 50)
    x = np.zeros((3, 50), np.float32)
    x[1] = rng().standard_normal(50)
    y = ternary_matmul(x, tm)
    assert np.array_equal(y[0], np.zeros(20)) and np.array_equal(y[2], np.zeros(20))
    y1 = ternary_matmul(x[1], tm)
    assert y1.shape == (20,) and np.array_equal(y1, y[1])


def test_matmul_threads_identical(backend, monkeypatch):
    monkeypatch.setattr(ternary_mod, "_MIN_THREAD_MACS", 1)  # split even these small products
    r = rng(9)
    tm = random_ternary(300, 200)
    for m in (1, 5, 200):
        x = r.standard_normal((m, 200)).astype(np.float32)
        base = ternary_matmul(x, tm, num_threads=1)
        for nt in (2, 3, 8):
            assert np.array_equal(ternary_matmul(x, tm, num_threads=nt), base)


def test_matmul_small_products_use_fewer_threads(backend, monkeypatch, recorded_splits):
    splits = recorded_splits
    r = rng(10)
    tm = random_ternary(256, 384)
    default = ternary_mod._MIN_THREAD_MACS
    for m in (1, 40):  # the column split of a GEMV, the row split of a GEMM
        x = r.standard_normal((m, 384)).astype(np.float32)
        base = ternary_matmul(x, tm, num_threads=1)
        monkeypatch.setattr(ternary_mod, "_MIN_THREAD_MACS", default)
        splits.clear()
        assert np.array_equal(ternary_matmul(x, tm, num_threads=2), base)
        assert all(len(s) == 1 for s in splits), splits  # 256 x 384 x m is far below _MIN_THREAD_MACS
        monkeypatch.setattr(ternary_mod, "_MIN_THREAD_MACS", 256 * 384 * m // 2)
        assert np.array_equal(ternary_matmul(x, tm, num_threads=2), base)
        assert any(len(s) == 2 for s in splits), (m, splits)


@pytest.mark.parametrize("m", [1, 3, 4, 5, 9, 40])  # the stack buffer holds 4 short rows
def test_linear_kernel_is_quantize_then_matmul(backend, m):
    # the fused entry (quantise into its own buffer, then multiply) against the two-step reference
    tm, x = random_ternary(70, 300, seed=m), rng(m).standard_normal((m, 300)).astype(np.float32)
    q, s, qs = quantize_np(x, tm.packed.shape[1] * 4)
    want = np.empty((m, 70), np.float32)
    ref.ternary_matmul_q(q, qs, s, tm.packed, tm.row_scales, want)
    # every matmul variant: the x86 ones quantise each row block just before multiplying it
    for v in MM_VARIANTS if _backend.BACKEND == "compiled" else [None]:
        with _backend.variant("ternary_matmul", v) if v else contextlib.nullcontext():
            out = np.full((m, 80), np.nan, np.float32)  # a strided output: only its first 70 columns written
            assert _backend.kernels.ternary_linear(x, tm.packed, tm.row_scales, out[:, :70]) is True
            assert np.array_equal(out[:, :70], want) and np.isnan(out[:, 70:]).all()
            for row in {0, m - 1}:  # a bad row in the first block or the last
                bad = x.copy()
                bad[row, 5] = np.inf
                assert _backend.kernels.ternary_linear(bad, tm.packed, tm.row_scales, out[:, :70]) is False


def test_matmul_noncontiguous_and_dtypes(backend):
    r = rng(10)
    tm = random_ternary(30, 64)
    big = r.standard_normal((20, 128)).astype(np.float64)
    x = big[::2, ::2]
    want = ternary_matmul(np.ascontiguousarray(x, np.float32), tm)
    assert np.array_equal(ternary_matmul(x, tm), want)


def test_matmul_bad_input(backend):
    tm = random_ternary(10, 20)
    x = np.ones((2, 20), np.float32)
    with pytest.raises(ValueError, match="x has 21 columns"):
        ternary_matmul(np.ones((2, 21), np.float32), tm)
    bad = x.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="x contains non-finite"):
        ternary_matmul(bad, tm)
    with pytest.raises(TypeError, match="x must have a real floating dtype"):
        ternary_matmul(x.astype(np.complex64), tm)
    with pytest.raises(ValueError, match="x must be"):
        ternary_matmul(np.ones((2, 2, 20)), tm)
    with pytest.raises(TypeError, match="w must be a TernaryMatrix"):
        ternary_matmul(x, np.ones((10, 20)))
    with pytest.raises(ValueError, match="num_threads"):
        ternary_matmul(x, tm, num_threads=0)


@settings(max_examples=scaled(60), deadline=None)
@given(
    m=st.integers(0, 12),
    k=st.integers(1, 300),
    n=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(1e-6, 1e6),
)
def test_matmul_property(m, k, n, seed, scale):
    r = rng(seed)
    tm = TernaryMatrix.from_values(r.integers(-1, 2, size=(n, k)), r.random(n).astype(np.float32))
    x = (r.standard_normal((m, k)) * scale).astype(np.float32)
    kp = tm.packed.shape[1] * 4
    q, s, qs = quantize_np(x, kp)
    want = exact_acc(q, tm)
    for v in MM_VARIANTS:
        with _backend.variant("ternary_matmul", v):
            assert np.array_equal(acc_with(_backend.load("compiled"), q, qs, tm.packed), want)
    with _backend.using("numpy"):
        y_np = ternary_matmul(x, tm, num_threads=1)
    if MM_VARIANTS:
        with _backend.using("compiled"), mock.patch.object(ternary_mod, "_MIN_THREAD_MACS", 1):
            assert np.array_equal(ternary_matmul(x, tm, num_threads=2), y_np)
    expect = want.astype(np.float32) * tm.row_scales[None, :] / s[:, None]
    assert np.array_equal(y_np, expect)


# ---- TernaryLinear ----------------------------------------------------------------------------------


def test_ternary_linear(backend):
    r = rng(11)
    w = r.standard_normal((24, 40)).astype(np.float32)
    b = r.standard_normal(24).astype(np.float32)
    lin = TernaryLinear.from_dense(w, b)
    x = r.standard_normal((2, 3, 40)).astype(np.float32)
    y = lin(x)
    assert y.shape == (2, 3, 24)
    assert np.array_equal(y.reshape(6, 24), ternary_matmul(x.reshape(6, 40), lin.weight) + b)
    dense = x @ lin.weight.to_dense().T + b
    assert np.abs(y - dense).max() < 0.05 * np.abs(dense).max()
    assert lin.in_features == 40 and lin.out_features == 24
    with pytest.raises(ValueError, match="bias"):
        TernaryLinear(lin.weight, np.ones(3))


# ---- ternary gather-mean ----------------------------------------------------------------------------


def gather_case(seed, n_rows=50, dim=200, n_bags=20, vocab=None):
    r = rng(seed)
    tab = random_ternary(n_rows, dim, seed=seed)
    lens = r.integers(0, 12, size=n_bags)
    lens[0] = 0
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = r.integers(0, vocab or n_rows, size=off[-1])
    return tab, ids, off


def naive_gather(tab, ids, off, weights=None, mapping=None, normalize=False):
    dense = tab.to_dense().astype(np.float64)
    out = np.zeros((len(off) - 1, tab.shape[1]))
    for b in range(len(off) - 1):
        sel = ids[off[b] : off[b + 1]]
        if len(sel) == 0:
            continue
        rows = mapping[sel] if mapping is not None else sel
        v = dense[rows] * (weights[sel][:, None] if weights is not None else 1)
        out[b] = v.mean(0)
        if normalize:
            out[b] /= np.linalg.norm(out[b]) + 1e-32
    return out


@pytest.mark.parametrize("dim", [1, 7, 63, 64, 65, 128, 200, 256])
@pytest.mark.parametrize("opts", ["plain", "weights", "mapping", "normalize"])
def test_gather_mean_backends_and_variants(backend, dim, opts):
    r = rng(dim)
    vocab = 80 if opts == "mapping" else None
    tab, ids, off = gather_case(dim, dim=dim, vocab=vocab)
    kw = {}
    if opts == "weights":
        kw["weights"] = r.uniform(0.1, 2, size=50).astype(np.float32)
    if opts == "mapping":
        kw["mapping"] = r.integers(0, 50, size=80)
        kw["weights"] = r.uniform(0.1, 2, size=80).astype(np.float32)
    if opts == "normalize":
        kw["normalize"] = True
    for dt in (np.int32, np.int64):
        got = ternary_gather_mean(tab, ids.astype(dt), off, **kw, num_threads=1)
        with _backend.using("numpy"):
            want = ternary_gather_mean(tab, ids.astype(dt), off, **kw, num_threads=1)
        assert got.shape == (20, dim) and got.dtype == np.float32
        if opts == "normalize":
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        else:
            assert np.array_equal(got, want)  # same float32 additions in the same order
        assert np.array_equal(got[0], np.zeros(dim))
        np.testing.assert_allclose(got, naive_gather(tab, ids, off, **kw), rtol=1e-5, atol=1e-6)
    if backend.__name__.endswith("_kernels"):
        for v in G_VARIANTS:
            with _backend.variant("gather_mean", v):
                g2 = tab.gather_mean(ids, off, **kw, num_threads=3)
            np.testing.assert_allclose(g2, got, rtol=1e-6, atol=1e-7)
            if opts != "normalize":
                assert np.array_equal(g2, got)


def test_gather_mean_threads_identical(backend):
    tab, ids, off = gather_case(5, n_bags=200)
    base = tab.gather_mean(ids, off, normalize=True, num_threads=1)
    for nt in (2, 4):
        assert np.array_equal(tab.gather_mean(ids, off, normalize=True, num_threads=nt), base)


def test_gather_mean_edge_cases(backend):
    tab, ids, off = gather_case(6)
    assert tab.gather_mean(ids, np.array([0], np.int64)).shape == (0, 200)
    out = tab.gather_mean(np.array([], np.int64), np.array([0, 0, 0]))
    assert np.array_equal(out, np.zeros((2, 200), np.float32))
    # offsets not starting at 0 select a slice of ids
    sub = tab.gather_mean(ids, off[3:6])
    assert np.array_equal(sub, tab.gather_mean(ids, off)[3:5])


def test_gather_mean_bad_input(backend):
    tab, ids, off = gather_case(7)
    # the messages of gather_mean: one validator for every table dtype
    with pytest.raises(ValueError, match="ids out of range"):
        tab.gather_mean(np.array([0, 50]), np.array([0, 2]))
    with pytest.raises(ValueError, match="ids must be >= 0"):
        tab.gather_mean(np.array([-1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="offsets must be non-decreasing"):
        tab.gather_mean(ids, np.array([0, 5, 3]))
    with pytest.raises(ValueError, match="offsets run past the end"):
        tab.gather_mean(ids, np.array([0, len(ids) + 1]))
    with pytest.raises(TypeError, match="ids must hold integers"):
        tab.gather_mean(ids.astype(np.float32), off)
    with pytest.raises(ValueError, match="weights has length 3, expected 50"):
        tab.gather_mean(ids, off, weights=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="weights contains non-finite"):
        tab.gather_mean(ids, off, weights=np.full(50, np.nan, np.float32))
    with pytest.raises(ValueError, match="mapping values"):
        tab.gather_mean(ids, off, mapping=np.full(50, 50))
    with pytest.raises(ValueError, match="offsets must have length n"):
        tab.gather_mean(ids, np.array([], np.int64))
    with pytest.raises(ValueError, match="scales apply to float and int8 tables"):
        fe_gather_mean(tab, ids, off, scales=np.ones(50, np.float32))
    with pytest.raises(TypeError, match="table must be a TernaryMatrix"):
        ternary_gather_mean(np.ones((3, 3)), ids, off)


@settings(max_examples=scaled(40), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dim=st.integers(1, 300), n_bags=st.integers(0, 30))
def test_gather_mean_property(seed, dim, n_bags):
    tab, ids, off = gather_case(seed % 1000, dim=dim, n_bags=max(n_bags, 1))
    w = rng(seed).uniform(0, 3, size=50).astype(np.float32)
    with _backend.using("numpy"):
        want = tab.gather_mean(ids, off, weights=w)
    for v in G_VARIANTS:
        with _backend.using("compiled"), _backend.variant("gather_mean", v):
            assert np.array_equal(tab.gather_mean(ids, off, weights=w, num_threads=2), want)


def test_public_exports():
    for name in ("TernaryMatrix", "TernaryLinear", "ternarize", "ternary_matmul", "ternary_gather_mean"):
        assert hasattr(fe, name)
