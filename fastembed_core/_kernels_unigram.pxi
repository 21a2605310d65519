# unigram bindings (included by _kernels.pyx). Contracts: fastembed_core/_ref/unigram.py.
from libc.stdint cimport uint32_t


cdef extern from "unigram.h" nogil:
    ctypedef struct fe_ug:
        pass
    ctypedef struct fe_ug_state:
        pass
    ctypedef struct fe_ug_op:
        int kind
        const char *a
        int64_t a_len
        const char *b
        int64_t b_len
        int flag1
        int flag2
    ctypedef struct fe_ug_ids:
        int32_t *data
        int64_t len
        int64_t cap
    int fe_ug_build(const char *pieces, const int64_t *offs, const double *scores, int64_t n, int32_t unk_id,
                    int byte_fallback, const uint8_t *charsmap, int64_t charsmap_len, const uint32_t *risky,
                    int64_t n_risky, uint8_t **blob, int64_t *blob_len)
    int fe_ug_check(const uint8_t *blob, int64_t len)
    fe_ug *fe_ug_open(const uint8_t *blob, int64_t blob_len, const fe_ug_op *norm, int n_norm, const fe_ug_op *pre,
                      int n_pre, const char *added_blob, const int64_t *added_offs, const uint8_t *added_flags,
                      const int32_t *added_ids, int64_t n_added)
    void fe_ug_free(fe_ug *ug)
    fe_ug_state *fe_ug_state_new()
    void fe_ug_state_free(fe_ug_state *st)
    int fe_ug_encode(const fe_ug *ug, fe_ug_state *st, const char *const *texts, const int64_t *lens, int64_t n,
                     int64_t max_tokens, int64_t drop_id, fe_ug_ids *out, int64_t *counts, uint8_t *fallback)
    int fe_ug_normalize(const fe_ug *ug, fe_ug_state *st, const char *text, int64_t len, char **norm,
                        int64_t *norm_len)
    int fe_ug_fuzz_one(const uint8_t *data, int64_t size)


_UG_KINDS = {"precompiled": 1, "replace": 2, "multispace": 3, "edgespace": 4, "start": 5, "strip": 6,
             "prepend": 7, "lowercase": 8, "nfd": 9, "nfkd": 10, "nfc": 11, "nfkc": 12, "metaspace": 20,
             "whitespace_split": 21, "whitespace": 22}
_UG_BUILD_ERRORS = {-2: "a piece is empty, longer than 4096 bytes or not UTF-8, or unk_id is out of range",
                    -3: "the precompiled_charsmap is malformed (its trie size is wrong)"}


def unigram_build(pieces, scores, int unk_id, bint byte_fallback, bytes charsmap, risky):
    """The vocabulary blob (bytes) of a Unigram model; ValueError for invalid input."""
    blob, offs = _wp_blob(pieces)
    sc = _np_wp.ascontiguousarray(scores, dtype=_np_wp.float64)
    if len(sc) != len(pieces):
        raise ValueError("scores and pieces differ in length")
    rk = _np_wp.ascontiguousarray(risky, dtype=_np_wp.uint32).reshape(-1)
    if len(rk) % 2:
        raise ValueError("risky must hold (first, last) pairs")
    cdef const int64_t[::1] offs_v = offs
    cdef const double[::1] sc_v = sc if len(sc) else _np_wp.zeros(1)
    cdef const uint32_t[::1] rk_v = rk if len(rk) else _np_wp.zeros(2, _np_wp.uint32)
    cdef const char *blob_p = blob
    cdef const uint8_t *cm_p = charsmap
    cdef uint8_t *out = NULL
    cdef int64_t out_len = 0
    cdef int64_t n = len(pieces), cm_len = len(charsmap), n_rk = len(rk) // 2
    cdef int rc
    with nogil:
        rc = fe_ug_build(blob_p, &offs_v[0], &sc_v[0], n, unk_id, byte_fallback, cm_p, cm_len,
                         &rk_v[0], n_rk, &out, &out_len)
    if rc == -1:
        raise MemoryError("unigram_build: out of memory")
    if rc != 0:
        raise ValueError(f"cannot build the Unigram vocabulary: {_UG_BUILD_ERRORS.get(rc, rc)}")
    try:
        return (<char *>out)[:out_len]
    finally:
        free(out)


def unigram_check(blob):
    """0 when ``blob`` (a buffer) is a valid vocabulary blob, else a negative code."""
    cdef const uint8_t[::1] b = blob
    if len(b) == 0:
        return -1
    return fe_ug_check(&b[0], len(b))


cdef class _UnigramState:
    cdef fe_ug_state *st

    def __cinit__(self):
        self.st = fe_ug_state_new()
        if self.st == NULL:
            raise MemoryError()

    def __dealloc__(self):
        fe_ug_state_free(self.st)


cdef class UnigramHandle:
    """A compiled Unigram pipeline over a vocabulary blob (kept alive here: bytes or an mmap)."""
    cdef fe_ug *ug
    cdef list _states
    cdef readonly object blob
    cdef readonly dict spec
    cdef const uint8_t[::1] _view

    def __dealloc__(self):
        fe_ug_free(self.ug)

    cdef _UnigramState _take(self):
        try:
            return self._states.pop()
        except IndexError:
            return _UnigramState()


cdef _ug_ops(list ops, fe_ug_op *arr, list keep):
    for i, op in enumerate(ops):
        a = op.get("a", "").encode("utf-8")
        b = op.get("b", "").encode("utf-8")
        keep.append(a)
        keep.append(b)
        arr[i].kind = _UG_KINDS[op["kind"]]
        arr[i].a = a
        arr[i].a_len = len(a)
        arr[i].b = b
        arr[i].b_len = len(b)
        arr[i].flag1 = op.get("flag1", 0)
        arr[i].flag2 = op.get("flag2", 0)


def unigram_new(dict spec, blob):
    """A handle from a spec (normalizers/pre_tokenizers op lists, added_tokens) and a blob."""
    cdef UnigramHandle h = UnigramHandle.__new__(UnigramHandle)
    h.blob = blob
    h._view = blob
    if len(h._view) == 0:
        raise ValueError("empty vocabulary blob")
    norm, pre = spec["normalizers"], spec["pre_tokenizers"]
    cdef fe_ug_op nops[64]
    cdef fe_ug_op pops[64]
    if len(norm) > 64 or len(pre) > 64:
        raise ValueError("too many normalizer or pre-tokenizer steps")
    keep = []
    _ug_ops(norm, nops, keep)
    _ug_ops(pre, pops, keep)
    added = spec["added_tokens"]  # dicts: content, id, normalized, single_word, lstrip, rstrip
    ablob, aoffs = _wp_blob([t["content"] for t in added])
    aflags = _np_wp.array([(1 if t["normalized"] else 0) | (2 if t["single_word"] else 0) |
                           (4 if t["lstrip"] else 0) | (8 if t["rstrip"] else 0) for t in added] + [0], dtype=_np_wp.uint8)
    aids = _np_wp.array([t["id"] for t in added] + [0], dtype=_np_wp.int64)
    if aids.min() < 0 or aids.max() > 2**31 - 1:
        raise ValueError("added token ids must fit in int32 and be >= 0")
    aids32 = aids.astype(_np_wp.int32)
    cdef const int64_t[::1] aoffs_v = aoffs
    cdef const uint8_t[::1] aflags_v = aflags
    cdef const int32_t[::1] aids_v = aids32
    cdef const char *ablob_p = ablob
    h.ug = fe_ug_open(&h._view[0], len(h._view), nops, len(norm), pops, len(pre), ablob_p, &aoffs_v[0],
                      &aflags_v[0], &aids_v[0], len(added))
    if h.ug == NULL:
        rc = fe_ug_check(&h._view[0], len(h._view))
        if rc:
            raise ValueError(f"the Unigram vocabulary blob is corrupted (check code {rc})")
        raise ValueError("fe_ug_open failed (out of memory or an invalid pipeline step)")
    h._states = []
    h.spec = spec
    return h


def unigram_encode(UnigramHandle handle, tuple texts, Py_ssize_t start, Py_ssize_t stop,
                   int64_t max_tokens, int64_t drop_id):
    cdef Py_ssize_t n = stop - start, i, size
    if start < 0 or stop > len(texts) or n < 0:
        raise ValueError("start/stop out of range")
    ptr_arr = _np_wp.empty(max(n, 1), dtype=_np_wp.uintp)
    lens = _np_wp.empty(max(n, 1), dtype=_np_wp.int64)
    counts = _np_wp.zeros(n, dtype=_np_wp.int64)
    fallback = _np_wp.zeros(n, dtype=_np_wp.uint8)
    cdef size_t[::1] ptr_v = ptr_arr
    cdef int64_t[::1] lens_v = lens
    cdef int64_t[::1] counts_v = counts if n else _np_wp.zeros(1, _np_wp.int64)
    cdef uint8_t[::1] fb_v = fallback if n else _np_wp.zeros(1, _np_wp.uint8)
    cdef const char *p
    for i in range(n):
        t = texts[start + i]
        if not isinstance(t, str):
            raise TypeError(f"texts[{start + i}] must be str, not {type(t).__name__}")
        try:
            p = PyUnicode_AsUTF8AndSize(t, &size)
        except UnicodeEncodeError as exc:
            raise ValueError(f"texts[{start + i}] cannot be encoded as UTF-8 ({exc.reason}: "
                             f"a lone surrogate?); tokenizers rejects it too") from None
        ptr_v[i] = <size_t>p
        lens_v[i] = size
    cdef _UnigramState state = handle._take()
    cdef fe_ug_ids out
    out.data = NULL
    out.len = 0
    out.cap = 0
    cdef int rc
    with nogil:
        rc = fe_ug_encode(handle.ug, state.st, <const char *const *>&ptr_v[0], &lens_v[0], n,
                          max_tokens, drop_id, &out, &counts_v[0], &fb_v[0])
    handle._states.append(state)
    try:
        if rc != 0:
            raise MemoryError("unigram_encode: out of memory")
        ids = _np_wp.empty(out.len, dtype=_np_wp.int32)
        if out.len:
            _wp_copy(ids, out.data, out.len)
    finally:
        free(out.data)
    return ids, counts, fallback


def unigram_normalize(UnigramHandle handle, str text):
    """The normalized text, or None when the C path sends this text to tokenizers."""
    cdef Py_ssize_t size
    cdef const char *p = PyUnicode_AsUTF8AndSize(text, &size)
    cdef char *norm = NULL
    cdef int64_t norm_len = 0
    cdef int rc
    cdef _UnigramState state = handle._take()
    with nogil:
        rc = fe_ug_normalize(handle.ug, state.st, p, size, &norm, &norm_len)
    handle._states.append(state)
    if rc == -2:
        raise MemoryError()
    if rc == -1:
        return None
    try:
        return norm[:norm_len].decode("utf-8")
    finally:
        free(norm)


def unigram_fuzz_one(bytes data):
    """Runs the C fuzz entry point fe_ug_fuzz_one on ``data`` (returns 0)."""
    cdef const uint8_t *p = data
    cdef int64_t n = len(data)
    with nogil:
        rc = fe_ug_fuzz_one(p, n)
    return rc
