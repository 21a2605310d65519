# wordpiece bindings (included by _kernels.pyx). Contracts: fastembed_core/_ref/wordpiece.py.
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free
from libc.string cimport memcpy
import numpy as _np_wp


cdef extern from "wordpiece.h" nogil:
    ctypedef struct fe_wp:
        pass
    ctypedef struct fe_wp_state:
        pass
    ctypedef struct fe_wp_ids:
        int32_t *data
        int64_t len
        int64_t cap
    enum:
        FE_WP_CLEAN
        FE_WP_CJK
        FE_WP_STRIP
        FE_WP_LOWER
        FE_WP_STRICT
    fe_wp *fe_wp_new(const char *vocab_blob, const int64_t *vocab_offs, const int32_t *vocab_ids, int64_t n_vocab,
                     const char *prefix, int64_t prefix_len, int32_t unk_id, int64_t max_chars, unsigned flags,
                     const char *added_blob, const int64_t *added_offs, const uint8_t *added_flags,
                     const int32_t *added_ids, int64_t n_added)
    void fe_wp_free(fe_wp *wp)
    fe_wp_state *fe_wp_state_new()
    void fe_wp_state_free(fe_wp_state *st)
    int fe_wp_encode(const fe_wp *wp, fe_wp_state *st, const char *const *texts, const int64_t *lens, int64_t n,
                     int64_t max_tokens, int64_t drop_id, fe_wp_ids *out, int64_t *counts, uint8_t *fallback)
    int64_t fe_wp_split(const fe_wp *wp, const char *text, int64_t len, char **norm, int64_t *norm_len,
                        int64_t **spans)
    const char *fe_wp_tables_version()


cdef extern from "added.h" nogil:
    int fe_added_fuzz_one(const uint8_t *data, int64_t size)


def added_fuzz_one(bytes data):
    """Runs the added-token matcher's C fuzz entry point fe_added_fuzz_one on ``data`` (returns 0)."""
    cdef const uint8_t *p = data
    cdef int64_t n = len(data)
    with nogil:
        rc = fe_added_fuzz_one(p, n)
    return rc


def _wp_blob(strings):
    """UTF-8 blob + int64 offsets (len n+1) of a list of str."""
    encoded = [s.encode("utf-8") for s in strings]
    offs = _np_wp.zeros(len(encoded) + 1, dtype=_np_wp.int64)
    if encoded:
        _np_wp.cumsum([len(b) for b in encoded], out=offs[1:])
    return b"".join(encoded) + b"\0", offs


def _added_arrays(added):
    """(blob, offsets, flags uint8, ids int32) of added-token dicts (content, id, normalized,
    single_word, lstrip, rstrip), as csrc/added.h takes them (one padding item each)."""
    ablob, aoffs = _wp_blob([t["content"] for t in added])
    aflags = _np_wp.array([(1 if t["normalized"] else 0) | (2 if t["single_word"] else 0) |
                           (4 if t["lstrip"] else 0) | (8 if t["rstrip"] else 0) for t in added] + [0],
                          dtype=_np_wp.uint8)
    aids = _np_wp.array([t["id"] for t in added] + [0], dtype=_np_wp.int64)
    if aids.min() < 0 or aids.max() > 2**31 - 1:
        raise ValueError("added token ids must fit in int32 and be >= 0")
    return ablob, aoffs, aflags, aids.astype(_np_wp.int32)


cdef class _WordPieceState:
    cdef fe_wp_state *st

    def __cinit__(self):
        self.st = fe_wp_state_new()
        if self.st == NULL:
            raise MemoryError()

    def __dealloc__(self):
        fe_wp_state_free(self.st)


cdef class WordPieceHandle:
    """A compiled WordPiece pipeline (immutable; shareable by threads) plus a pool of per-thread states."""
    cdef fe_wp *wp
    cdef list _states
    cdef readonly dict spec

    def __dealloc__(self):
        fe_wp_free(self.wp)

    cdef _WordPieceState _take(self):
        try:
            return self._states.pop()  # atomic under the GIL: one state per thread at a time
        except IndexError:
            return _WordPieceState()


def wordpiece_tables_version():
    """The tokenizers version csrc/unicode_tables.h was measured on."""
    return fe_wp_tables_version().decode()


def wordpiece_new(dict spec):
    cdef WordPieceHandle h = WordPieceHandle.__new__(WordPieceHandle)
    vocab = spec["vocab"]
    blob, offs = _wp_blob(list(vocab))
    ids = _np_wp.fromiter(vocab.values(), dtype=_np_wp.int64, count=len(vocab))
    if len(ids) and (ids.min() < 0 or ids.max() > 2**31 - 1):
        raise ValueError("vocab ids must fit in int32 and be >= 0")
    ids32 = ids.astype(_np_wp.int32)
    added = spec["added_tokens"]  # dicts: content (normalized form for normalized ones), id, flags
    ablob, aoffs, aflags, aids = _added_arrays(added)
    prefix = spec["continuing_subword_prefix"].encode("utf-8")
    cdef unsigned flags = 0
    if spec["clean_text"]:
        flags |= FE_WP_CLEAN
    if spec["handle_chinese_chars"]:
        flags |= FE_WP_CJK
    if spec["strip_accents"]:
        flags |= FE_WP_STRIP
    if spec["lowercase"]:
        flags |= FE_WP_LOWER
    if spec["strict_unassigned"]:
        flags |= FE_WP_STRICT
    cdef const int64_t[::1] offs_v = offs
    cdef const int32_t[::1] ids_v = ids32 if len(ids32) else _np_wp.zeros(1, _np_wp.int32)
    cdef const int64_t[::1] aoffs_v = aoffs
    cdef const uint8_t[::1] aflags_v = aflags
    cdef const int32_t[::1] aids_v = aids
    cdef const char *blob_p = blob
    cdef const char *ablob_p = ablob
    cdef const char *prefix_p = prefix
    h.wp = fe_wp_new(blob_p, &offs_v[0], &ids_v[0], len(vocab), prefix_p, len(prefix),
                     spec["unk_id"], spec["max_input_chars_per_word"], flags,
                     ablob_p, &aoffs_v[0], &aflags_v[0], &aids_v[0], len(added))
    if h.wp == NULL:
        raise MemoryError("fe_wp_new failed (out of memory, an invalid vocabulary or added tokens)")
    h._states = []
    h.spec = spec
    return h


def wordpiece_encode(WordPieceHandle handle, tuple texts, Py_ssize_t start, Py_ssize_t stop,
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
            p = PyUnicode_AsUTF8AndSize(t, &size)  # borrowed: lives as long as the str (texts holds it)
        except UnicodeEncodeError as exc:
            raise ValueError(f"texts[{start + i}] cannot be encoded as UTF-8 ({exc.reason}: "
                             f"a lone surrogate?); tokenizers rejects it too") from None
        ptr_v[i] = <size_t>p
        lens_v[i] = size
    cdef _WordPieceState state = handle._take()
    cdef fe_wp_ids out
    out.data = NULL
    out.len = 0
    out.cap = 0
    cdef int rc
    with nogil:
        rc = fe_wp_encode(handle.wp, state.st, <const char *const *>&ptr_v[0], &lens_v[0], n,
                          max_tokens, drop_id, &out, &counts_v[0], &fb_v[0])
    handle._states.append(state)
    try:
        if rc != 0:
            raise MemoryError("wordpiece_encode: out of memory")
        ids = _np_wp.empty(out.len, dtype=_np_wp.int32)
        if out.len:
            _wp_copy(ids, out.data, out.len)
    finally:
        free(out.data)
    return ids, counts, fallback


cdef _wp_copy(int32_t[::1] dst, const int32_t *src, int64_t n):
    with nogil:
        memcpy(&dst[0], src, <size_t>n * sizeof(int32_t))


def wordpiece_split(WordPieceHandle handle, str text):
    cdef Py_ssize_t size
    cdef const char *p = PyUnicode_AsUTF8AndSize(text, &size)
    cdef char *norm = NULL
    cdef int64_t norm_len = 0
    cdef int64_t *spans = NULL
    cdef int64_t nw
    with nogil:
        nw = fe_wp_split(handle.wp, p, size, &norm, &norm_len, &spans)
    if nw == -2:
        raise MemoryError()
    if nw == -1:
        return None
    try:
        nb = norm[:norm_len]
        words = [nb[spans[2 * k]:spans[2 * k + 1]].decode("utf-8") for k in range(nw)]
        return nb.decode("utf-8"), words
    finally:
        free(norm)
        free(spans)
