/* Hamming distance and exact top-k over packed binary codes (see hamming.h).
 *
 * Every variant implements one primitive, the distances from one query to a run of up to BATCH codes
 * into an int32 buffer; a shared driver blocks the database so a block stays in cache across
 * queries, and a selection step keeps, per query, a max-heap of the k best (distance, index) pairs.
 * The database is scanned in index order and a candidate enters only if its distance is strictly
 * smaller than the heap's worst, so among equal distances the smaller index wins: results are exact,
 * independent of the variant, and identical when the caller splits the database into ranges and
 * merges the per-range results by (distance, index).
 *
 * Variants: avx512_vpopcntdq (vpopcntq), avx2 (nibble lookup with vpshufb, vpsadbw, and a
 * vectorised threshold test), popcnt (the x86 POPCNT instruction on 64-bit words), neon (vcnt byte
 * counts, aarch64), scalar (portable SWAR popcount: baseline x86-64 does not guarantee POPCNT).
 */
#include "hamming.h"
#include "pool.h"

#include <string.h>

#include "simd.h"

#if defined(_MSC_VER)
#include <intrin.h>
#endif

#if defined(_MSC_VER)
#define FE_FORCE_INLINE static __forceinline
#else
#define FE_FORCE_INLINE static inline __attribute__((always_inline))
#endif

enum { BATCH = 256 };                 /* codes per distance call: the int32 buffer stays in L1 */
enum { BLOCK_BYTES = 128 * 1024 };    /* database bytes per block, reused across queries */
/* Software prefetch this far ahead of the scan: measured 1.3x on one query over 32 MB of codes (Zen 3),
 * where the hardware prefetcher alone leaves the stream below the memory bandwidth. A hint: it never
 * faults, even past the end of the array. */
enum { PREFETCH_BYTES = 8192 };

#if defined(__GNUC__) || defined(__clang__)
#define FE_PREFETCH(p) __builtin_prefetch((const void *)(uintptr_t)(p), 0, 3)
#elif defined(_MSC_VER) && FE_X86
#include <xmmintrin.h>
#define FE_PREFETCH(p) _mm_prefetch((const char *)(uintptr_t)(p), _MM_HINT_T0)
#else
#define FE_PREFETCH(p) ((void)0)
#endif

/* Prefetches the cache lines of [p + PREFETCH_BYTES, p + PREFETCH_BYTES + bytes), where the CPU
 * gains from it: every caller reads fe_scan_prefetch() (cpu.h) once into a local `pf`. */
static inline void prefetch_rows(const uint8_t *p, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) FE_PREFETCH((uintptr_t)p + PREFETCH_BYTES + o);
}

typedef void (*dist_fn)(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, size_t width,
                        int32_t *out);

static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The last `rem` (< 8) bytes of a code as a zero-padded word. */
static inline uint64_t load_tail(const uint8_t *p, size_t rem) {
    uint64_t v = 0;
    memcpy(&v, p, rem);
    return v;
}

static inline unsigned ctz32(uint32_t x) {
#if defined(_MSC_VER)
    unsigned long i;
    _BitScanForward(&i, x);
    return (unsigned)i;
#else
    return (unsigned)__builtin_ctz(x);
#endif
}

/* ---------------------------------------------------------------- selection (bounded max-heap) */

typedef struct {
    int32_t *d;
    int64_t *i;
    size_t k;
} heap;

/* (da, ia) > (db, ib) in the (distance, index) order. */
static inline int pair_gt(int32_t da, int64_t ia, int32_t db, int64_t ib) {
    return da > db || (da == db && ia > ib);
}

static inline void sift_down(int32_t *d, int64_t *ix, size_t n, size_t pos, int32_t dv, int64_t iv) {
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_gt(d[c + 1], ix[c + 1], d[c], ix[c])) c++;
        if (!pair_gt(d[c], ix[c], dv, iv)) break;
        d[pos] = d[c];
        ix[pos] = ix[c];
        pos = c;
    }
    d[pos] = dv;
    ix[pos] = iv;
}

/* Replaces the worst pair (the root) by (dv, iv). */
static inline void heap_replace_top(heap *h, int32_t dv, int64_t iv) { sift_down(h->d, h->i, h->k, 0, dv, iv); }

static void heap_init(heap *h) {
    for (size_t j = 0; j < h->k; j++) {
        h->d[j] = INT32_MAX;
        h->i[j] = INT64_MAX;
    }
}

/* Heap -> ascending (distance, index); unused slots become (INT32_MAX, -1). */
static void heap_finish(heap *h) {
    for (size_t end = h->k; end > 1; end--) {
        int32_t dv = h->d[end - 1];
        int64_t iv = h->i[end - 1];
        h->d[end - 1] = h->d[0];
        h->i[end - 1] = h->i[0];
        sift_down(h->d, h->i, end - 1, 0, dv, iv);
    }
    for (size_t j = 0; j < h->k; j++)
        if (h->i[j] == INT64_MAX) h->i[j] = -1;
}

typedef void (*select_fn)(const int32_t *dist, size_t n, int64_t first_index, heap *h);

static void select_scalar(const int32_t *dist, size_t n, int64_t first_index, heap *h) {
    int32_t thr = h->d[0];
    for (size_t j = 0; j < n; j++) {
        if (dist[j] < thr) {
            heap_replace_top(h, dist[j], first_index + (int64_t)j);
            thr = h->d[0];
        }
    }
}

static void topk_driver(dist_fn dist, select_fn select, const uint8_t *queries, size_t nq, size_t q_stride,
                        const uint8_t *db, size_t n, size_t db_stride, size_t width, size_t k,
                        int64_t index_base, int32_t *out_d, int64_t *out_i) {
    int32_t buf[BATCH];
    if (k == 0) return;
    for (size_t qi = 0; qi < nq; qi++) {
        heap h = {out_d + qi * k, out_i + qi * k, k};
        heap_init(&h);
    }
    size_t block = BLOCK_BYTES / (db_stride ? db_stride : 1);
    block = block < BATCH ? BATCH : block / BATCH * BATCH;
    for (size_t b0 = 0; b0 < n; b0 += block) {
        size_t b1 = n - b0 < block ? n : b0 + block;
        for (size_t qi = 0; qi < nq; qi++) {
            heap h = {out_d + qi * k, out_i + qi * k, k};
            const uint8_t *q = queries + qi * q_stride;
            for (size_t s = b0; s < b1; s += BATCH) {
                size_t m = b1 - s < BATCH ? b1 - s : BATCH;
                dist(q, db + s * db_stride, m, db_stride, width, buf);
                select(buf, m, index_base + (int64_t)s, &h);
            }
        }
    }
    for (size_t qi = 0; qi < nq; qi++) {
        heap h = {out_d + qi * k, out_i + qi * k, k};
        heap_finish(&h);
    }
}

static void distance_driver(dist_fn dist, const uint8_t *a, size_t na, size_t a_stride, const uint8_t *b,
                            size_t nb, size_t b_stride, size_t width, int32_t *out, size_t out_stride) {
    size_t block = BLOCK_BYTES / (b_stride ? b_stride : 1);
    if (block < BATCH) block = BATCH;
    for (size_t b0 = 0; b0 < nb; b0 += block) {
        size_t m = nb - b0 < block ? nb - b0 : block;
        for (size_t i = 0; i < na; i++) dist(a + i * a_stride, b + b0 * b_stride, m, b_stride, width, out + i * out_stride + b0);
    }
}

/* ---------------------------------------------------------------- scalar (portable SWAR popcount) */

static inline int popcount_swar(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

#if !FE_X86 && (defined(__GNUC__) || defined(__clang__))
#define SCALAR_POPCOUNT(x) __builtin_popcountll(x) /* aarch64 and others: a native instruction */
#else
#define SCALAR_POPCOUNT(x) popcount_swar(x)
#endif

/* One code against one query, `words` 64-bit words then `rem` bytes. Written as a macro body so that
 * each variant gets its own copy with its popcount (and the compiler unrolls constant word counts). */
#define CODE_DIST(POPCOUNT, q, c, words, rem, result)                       \
    do {                                                                    \
        int acc_ = 0;                                                       \
        for (size_t w_ = 0; w_ < (words); w_++)                             \
            acc_ += POPCOUNT(load64((q) + 8 * w_) ^ load64((c) + 8 * w_)); \
        if (rem)                                                            \
            acc_ += POPCOUNT(load_tail((q) + 8 * (words), (rem)) ^          \
                             load_tail((c) + 8 * (words), (rem)));          \
        (result) = acc_;                                                    \
    } while (0)

/* Distances of n rows, prefetching ahead once every 8 rows; `words` and `rem` as in CODE_DIST. */
#define ROWS_DIST(POPCOUNT, words, rem)                                                  \
    for (size_t j = 0; j < n; j++) {                                                     \
        if (pf && (j & 7) == 0) prefetch_rows(codes + j * stride, 8 * stride);           \
        CODE_DIST(POPCOUNT, q, codes + j * stride, (words), (rem), out[j]);              \
    }

/* The word-at-a-time variants, with the common widths (16, 32, 64 bytes) unrolled. */
#define DEFINE_WORD_DIST(NAME, TARGET, POPCOUNT)                                                         \
    static TARGET void NAME(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, size_t width, \
                            int32_t *out) {                                                              \
        const int pf = fe_scan_prefetch();                                                               \
        if (width == 32) {                                                                               \
            ROWS_DIST(POPCOUNT, 4, 0)                                                                    \
        } else if (width == 64) {                                                                        \
            ROWS_DIST(POPCOUNT, 8, 0)                                                                    \
        } else if (width == 16) {                                                                        \
            ROWS_DIST(POPCOUNT, 2, 0)                                                                    \
        } else {                                                                                         \
            ROWS_DIST(POPCOUNT, width / 8, width % 8)                                                    \
        }                                                                                                \
    }

DEFINE_WORD_DIST(dist_scalar, , SCALAR_POPCOUNT)

static void topk_scalar(const uint8_t *q, size_t nq, size_t qs, const uint8_t *db, size_t n, size_t ds,
                        size_t width, size_t k, int64_t base, int32_t *od, int64_t *oi) {
    topk_driver(dist_scalar, select_scalar, q, nq, qs, db, n, ds, width, k, base, od, oi);
}
static void distance_scalar(const uint8_t *a, size_t na, size_t as, const uint8_t *b, size_t nb, size_t bs,
                            size_t width, int32_t *out, size_t os) {
    distance_driver(dist_scalar, a, na, as, b, nb, bs, width, out, os);
}

#ifdef FE_HAVE_X86_SIMD
/* ---------------------------------------------------------------- popcnt (x86 POPCNT instruction) */

#if defined(_MSC_VER) && !defined(FE_EMULATE_SIMD)
#if defined(_M_X64)
#define HW_POPCOUNT(x) ((int)__popcnt64(x))
#else
#define HW_POPCOUNT(x) ((int)(__popcnt((unsigned)(x)) + __popcnt((unsigned)((x) >> 32))))
#endif
#else
#define HW_POPCOUNT(x) __builtin_popcountll(x)
#endif

#define FE_TARGET_POPCNT FE_TARGET("popcnt")

DEFINE_WORD_DIST(dist_popcnt, FE_TARGET_POPCNT, HW_POPCOUNT)

static void topk_popcnt(const uint8_t *q, size_t nq, size_t qs, const uint8_t *db, size_t n, size_t ds,
                        size_t width, size_t k, int64_t base, int32_t *od, int64_t *oi) {
    topk_driver(dist_popcnt, select_scalar, q, nq, qs, db, n, ds, width, k, base, od, oi);
}
static void distance_popcnt(const uint8_t *a, size_t na, size_t as, const uint8_t *b, size_t nb, size_t bs,
                            size_t width, int32_t *out, size_t os) {
    distance_driver(dist_popcnt, a, na, as, b, nb, bs, width, out, os);
}

/* ---------------------------------------------------------------- avx2 */

/* Per-byte popcount of x by two 16-entry lookups (vpshufb). */
FE_FORCE_INLINE FE_TARGET_AVX2 __m256i popcount_bytes_avx2(__m256i x) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(x, low);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

/* Popcount of (q XOR c) over `chunks` 32-byte chunks as four 64-bit partial sums. Byte counts are
 * accumulated for up to 31 chunks (31 * 8 < 256) before one vpsadbw. */
FE_FORCE_INLINE FE_TARGET_AVX2 __m256i code_sad_avx2(const uint8_t *q, const uint8_t *c, size_t chunks) {
    __m256i acc = _mm256_setzero_si256();
    size_t j = 0;
    while (j < chunks) {
        size_t stop = chunks - j > 31 ? j + 31 : chunks;
        __m256i bytes = _mm256_setzero_si256();
        for (; j < stop; j++) {
            __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(q + 32 * j)),
                                         _mm256_loadu_si256((const __m256i *)(c + 32 * j)));
            bytes = _mm256_add_epi8(bytes, popcount_bytes_avx2(x));
        }
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    }
    return acc;
}

/* Eight codes' partial sums (four 64-bit lanes each, every lane < 2^32) -> their eight totals as int32. */
FE_FORCE_INLINE FE_TARGET_AVX2 __m256i reduce8_avx2(const __m256i s[8]) {
    __m256i u01 = _mm256_or_si256(s[0], _mm256_slli_epi64(s[1], 32));
    __m256i u23 = _mm256_or_si256(s[2], _mm256_slli_epi64(s[3], 32));
    __m256i u45 = _mm256_or_si256(s[4], _mm256_slli_epi64(s[5], 32));
    __m256i u67 = _mm256_or_si256(s[6], _mm256_slli_epi64(s[7], 32));
    /* per 128-bit lane: codes 0-3 (resp. 4-7), half of their qwords each */
    __m256i x = _mm256_add_epi32(_mm256_unpacklo_epi64(u01, u23), _mm256_unpackhi_epi64(u01, u23));
    __m256i y = _mm256_add_epi32(_mm256_unpacklo_epi64(u45, u67), _mm256_unpackhi_epi64(u45, u67));
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
}

FE_FORCE_INLINE FE_TARGET_AVX2 void dist_avx2_chunks(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride,
                                                   size_t chunks, size_t width, int32_t *out) {
    size_t tail = width - 32 * chunks, words = tail / 8, rem = tail % 8;
    const uint8_t *qt = q + 32 * chunks;
    size_t j = 0;
    const int pf = fe_scan_prefetch();
    for (; j + 8 <= n; j += 8) {
        __m256i s[8];
        if (pf) prefetch_rows(codes + j * stride, 8 * stride);
        for (int c = 0; c < 8; c++) s[c] = code_sad_avx2(q, codes + (j + c) * stride, chunks);
        _mm256_storeu_si256((__m256i *)(out + j), reduce8_avx2(s));
    }
    for (; j < n; j++) out[j] = (int32_t)fe_reduce_add_epi64_256(code_sad_avx2(q, codes + j * stride, chunks));
    if (tail) {
        for (j = 0; j < n; j++) {
            int t;
            CODE_DIST(HW_POPCOUNT, qt, codes + j * stride + 32 * chunks, words, rem, t);
            out[j] += t;
        }
    }
}

static FE_TARGET_AVX2 void dist_avx2(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, size_t width,
                                     int32_t *out) {
    if (width == 32)
        dist_avx2_chunks(q, codes, n, stride, 1, 32, out);
    else if (width == 64)
        dist_avx2_chunks(q, codes, n, stride, 2, 64, out);
    else if (width >= 32)
        dist_avx2_chunks(q, codes, n, stride, width / 32, width, out);
    else
        dist_popcnt(q, codes, n, stride, width, out);
}

static FE_TARGET_AVX2 void select_avx2(const int32_t *dist, size_t n, int64_t first_index, heap *h) {
    int32_t thr = h->d[0];
    __m256i tv = _mm256_set1_epi32(thr);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(dist + j));
        uint32_t m = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(tv, v)));
        if (!m) continue;
        do {
            size_t b = j + ctz32(m);
            m &= m - 1;
            if (dist[b] < thr) {
                heap_replace_top(h, dist[b], first_index + (int64_t)b);
                thr = h->d[0];
            }
        } while (m);
        tv = _mm256_set1_epi32(thr);
    }
    for (; j < n; j++) {
        if (dist[j] < thr) {
            heap_replace_top(h, dist[j], first_index + (int64_t)j);
            thr = h->d[0];
        }
    }
}

/* ---------------------------------------------------------------- fused top-k for 256-bit codes
 *
 * No distance buffer: each step computes the distances of STEP codes in registers, one compare against
 * the current k-th distance gives the mask of candidates (empty for nearly every step once the heap has
 * filled), and only those are offered to the heap, in index order, so ties still go to the smaller
 * index. The database is blocked (BLOCK_BYTES) so a block stays in cache across the queries;
 * STEP_FN(qv, codes, stride, thr, d) returns the mask (bit c: code c) and fills d[c] when non-zero. */
#define DEFINE_TOPK32_FUSED(NAME, TARGET, STEP, QTYPE, QLOAD, STEP_FN)                                     \
    static TARGET void NAME(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n, \
                            size_t stride, size_t k, int64_t index_base, int32_t *out_d, int64_t *out_i) {  \
        const int pf = nq == 1 && fe_scan_prefetch(); /* one query: the scan streams from memory */       \
        for (size_t qi = 0; qi < nq; qi++) {                                                              \
            heap h = {out_d + qi * k, out_i + qi * k, k};                                                 \
            heap_init(&h);                                                                                \
        }                                                                                                 \
        size_t block = BLOCK_BYTES / stride;                                                              \
        block = block < (STEP) ? (STEP) : block / (STEP) * (STEP);                                        \
        for (size_t b0 = 0; b0 < n; b0 += block) {                                                        \
            size_t b1 = n - b0 < block ? n : b0 + block, full = b0 + (b1 - b0) / (STEP) * (STEP);         \
            for (size_t qi = 0; qi < nq; qi++) {                                                          \
                heap h = {out_d + qi * k, out_i + qi * k, k};                                             \
                const uint8_t *q = queries + qi * q_stride;                                               \
                const QTYPE qv = QLOAD(q);                                                                \
                int32_t d[STEP];                                                                          \
                for (size_t s = b0; s < full; s += (STEP)) {                                              \
                    const uint8_t *c = db + s * stride;                                                   \
                    if (pf) prefetch_rows(c, (STEP) * stride);                                            \
                    for (uint32_t m = STEP_FN(qv, c, stride, h.d[0], d); m; m &= m - 1) {                 \
                        unsigned j = ctz32(m);                                                            \
                        if (d[j] < h.d[0]) heap_replace_top(&h, d[j], index_base + (int64_t)(s + j));     \
                    }                                                                                     \
                }                                                                                         \
                for (size_t s = full; s < b1; s++) {                                                      \
                    int dd;                                                                               \
                    CODE_DIST(HW_POPCOUNT, q, db + s * stride, 4, 0, dd);                                 \
                    if (dd < h.d[0]) heap_replace_top(&h, dd, index_base + (int64_t)s);                   \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
        for (size_t qi = 0; qi < nq; qi++) {                                                              \
            heap h = {out_d + qi * k, out_i + qi * k, k};                                                 \
            heap_finish(&h);                                                                              \
        }                                                                                                 \
    }

/* The rows j < n of a run of 32-byte codes closer than thr (fe_hamming_below), one STEP_FN at a time:
 * the fused top-k's step, without its heap. */
#define DEFINE_BELOW32(NAME, TARGET, STEP, QTYPE, QLOAD, STEP_FN)                                         \
    static TARGET size_t NAME(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, int32_t thr, \
                              size_t readable, uint32_t *out_j, int32_t *out_d) {                         \
        const QTYPE qv = QLOAD(q);                                                                        \
        int32_t d[STEP];                                                                                  \
        size_t c = 0, s = 0;                                                                              \
        const int pf = fe_scan_prefetch();                                                                \
        for (; s + (STEP) <= n; s += (STEP)) {                                                            \
            if (pf && (s + (STEP)) * stride + PREFETCH_BYTES <= readable) prefetch_rows(codes + s * stride, (STEP) * stride); \
            for (uint32_t m = STEP_FN(qv, codes + s * stride, stride, thr, d); m; m &= m - 1) {           \
                unsigned j = ctz32(m);                                                                    \
                out_j[c] = (uint32_t)(s + j);                                                             \
                out_d[c++] = d[j];                                                                        \
            }                                                                                             \
        }                                                                                                 \
        for (; s < n; s++) {                                                                              \
            int dd;                                                                                       \
            CODE_DIST(HW_POPCOUNT, q, codes + s * stride, 4, 0, dd);                                      \
            if (dd < thr) {                                                                               \
                out_j[c] = (uint32_t)s;                                                                   \
                out_d[c++] = dd;                                                                          \
            }                                                                                             \
        }                                                                                                 \
        return c;                                                                                         \
    }

/* 8 codes of 32 bytes: byte counts (vpshufb), vpsadbw, then the eight totals in one register. */
static inline FE_TARGET_AVX2 uint32_t step8_avx2(__m256i qv, const uint8_t *c, size_t stride, int32_t thr,
                                                 int32_t *d) {
    __m256i s[8];
    for (int t = 0; t < 8; t++)
        s[t] = _mm256_sad_epu8(popcount_bytes_avx2(_mm256_xor_si256(qv, _mm256_loadu_si256((const __m256i *)(c + t * stride)))),
                               _mm256_setzero_si256());
    __m256i v = reduce8_avx2(s);
    uint32_t m = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(thr), v)));
    if (m) _mm256_storeu_si256((__m256i *)d, v);
    return m;
}

#define QUERY_YMM(q) _mm256_loadu_si256((const __m256i *)(q))
DEFINE_TOPK32_FUSED(topk32_avx2, FE_TARGET_AVX2, 8, __m256i, QUERY_YMM, step8_avx2)
DEFINE_BELOW32(below32_avx2, FE_TARGET_AVX2, 8, __m256i, QUERY_YMM, step8_avx2)

static FE_TARGET_AVX2 void topk_avx2(const uint8_t *q, size_t nq, size_t qs, const uint8_t *db, size_t n, size_t ds,
                                     size_t width, size_t k, int64_t base, int32_t *od, int64_t *oi) {
    if (width == 32 && ds >= 32) {
        topk32_avx2(q, nq, qs, db, n, ds, k, base, od, oi);
        return;
    }
    topk_driver(dist_avx2, select_avx2, q, nq, qs, db, n, ds, width, k, base, od, oi);
}
static FE_TARGET_AVX2 void distance_avx2(const uint8_t *a, size_t na, size_t as, const uint8_t *b, size_t nb,
                                         size_t bs, size_t width, int32_t *out, size_t os) {
    distance_driver(dist_avx2, a, na, as, b, nb, bs, width, out, os);
}

/* ---------------------------------------------------------------- avx512 vpopcntdq */

/* Two 32-byte codes per register: popcounts of 8 codes -> eight int32 totals. */
static inline FE_TARGET_AVX512_VPOPCNTDQ void dist32_avx512(const uint8_t *q, const uint8_t *codes, size_t n,
                                                            size_t stride, int32_t *out) {
    const __m256i q256 = _mm256_loadu_si256((const __m256i *)q);
    const __m512i qq = _mm512_inserti64x4(_mm512_castsi256_si512(q256), q256, 1);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t j = 0;
    const int pf = fe_scan_prefetch();
    for (; j + 8 <= n; j += 8) {
        __m256i y[4];
        if (pf) prefetch_rows(codes + j * stride, 8 * stride);
        for (int p = 0; p < 4; p++) {
            const uint8_t *c0 = codes + (j + 2 * p) * stride;
            __m512i pair = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)c0)),
                _mm256_loadu_si256((const __m256i *)(c0 + stride)), 1);
            /* 8 qword popcounts -> 8 int32: [code 2p: 4 words | code 2p+1: 4 words] */
            y[p] = _mm512_cvtepi64_epi32(_mm512_popcnt_epi64(_mm512_xor_si512(pair, qq)));
        }
        /* hadd twice: lane 0 holds codes 0,2,4,6 and lane 1 codes 1,3,5,7 */
        __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(y[0], y[1]), _mm256_hadd_epi32(y[2], y[3]));
        _mm256_storeu_si256((__m256i *)(out + j), _mm256_permutevar8x32_epi32(h, order));
    }
    for (; j < n; j++) CODE_DIST(HW_POPCOUNT, q, codes + j * stride, 4, 0, out[j]);
}

static FE_TARGET_AVX512_VPOPCNTDQ void dist_avx512(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride,
                                                   size_t width, int32_t *out) {
    if (width == 32) {
        dist32_avx512(q, codes, n, stride, out);
        return;
    }
    if (width < 64) {
        dist_popcnt(q, codes, n, stride, width, out);
        return;
    }
    size_t chunks = width / 64, tail = width % 64, words = tail / 8, rem = tail % 8;
    const int pf = fe_scan_prefetch();
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * stride;
        __m512i acc = _mm512_setzero_si512();
        if (pf) prefetch_rows(c, width);
        for (size_t i = 0; i < chunks; i++) {
            __m512i x = _mm512_xor_si512(_mm512_loadu_si512((const void *)(q + 64 * i)),
                                         _mm512_loadu_si512((const void *)(c + 64 * i)));
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
        }
        int t = 0;
        if (tail) CODE_DIST(HW_POPCOUNT, q + 64 * chunks, c + 64 * chunks, words, rem, t);
        out[j] = (int32_t)fe_reduce_add_epi64_512(acc) + t;
    }
}

/* The fused top-k step for 32-byte codes (DEFINE_TOPK32_FUSED): 16 codes per step, 8 zmm of 2 codes,
 * vpopcntq per 64-bit word (<= 64), then the words are packed four to a qword in 16-bit fields
 * and summed across lanes, leaving the 16 distances (<= 256) in 16-bit fields: codes 0,2,..,14 in
 * the first 128-bit lane, 1,3,..,15 in the third; one 16-bit compare against the k-th distance. */
static inline FE_TARGET_AVX512_VPOPCNTDQ __m512i load_code_pair(const uint8_t *c, size_t stride) {
    if (stride == 32) return _mm512_loadu_si512((const void *)c);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)c)),
                              _mm256_loadu_si256((const __m256i *)(c + stride)), 1);
}

static inline FE_TARGET_AVX512_VPOPCNTDQ __m512i pack4_popcnt(__m512i qq, __m512i p0, __m512i p1, __m512i p2,
                                                             __m512i p3) {
    __m512i c0 = _mm512_popcnt_epi64(_mm512_xor_si512(p0, qq));
    __m512i c1 = _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(p1, qq)), 16);
    __m512i c2 = _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(p2, qq)), 32);
    __m512i c3 = _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(p3, qq)), 48);
    return _mm512_or_si512(_mm512_ternarylogic_epi64(c0, c1, c2, 0xfe), c3);
}

/* Distances of codes [0, 16) from `codes` as 16-bit fields (layout above). */
static inline FE_TARGET_AVX512_VPOPCNTDQ __m512i dist16x32_avx512(__m512i qq, const uint8_t *codes, size_t stride) {
    const size_t s2 = 2 * stride;
    __m512i a = pack4_popcnt(qq, load_code_pair(codes, stride), load_code_pair(codes + s2, stride),
                             load_code_pair(codes + 2 * s2, stride), load_code_pair(codes + 3 * s2, stride));
    __m512i b = pack4_popcnt(qq, load_code_pair(codes + 4 * s2, stride), load_code_pair(codes + 5 * s2, stride),
                             load_code_pair(codes + 6 * s2, stride), load_code_pair(codes + 7 * s2, stride));
    __m512i u = _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
    const __m512i swap128 = _mm512_setr_epi64(2, 3, 0, 1, 6, 7, 4, 5); /* 128-bit lanes (1, 0, 3, 2) */
    return _mm512_add_epi64(u, _mm512_permutexvar_epi64(swap128, u));
}

/* One step of 16 codes: the mask (bit c: code c) of those closer than thr, their distances in d
 * (only when the mask is not empty). */
static inline FE_TARGET_AVX512_VPOPCNTDQ uint32_t step16_avx512(__m512i qq, const uint8_t *c, size_t stride,
                                                               int32_t thr, int32_t *d) {
    __m512i dv = dist16x32_avx512(qq, c, stride);
    __m512i tv = _mm512_set1_epi16((short)(thr > 0xffff ? 0xffff : thr));
    uint32_t m = fe_cmplt_epu16_mask_512(dv, tv) & 0x00ff00ffu;
    if (!m) return 0;
    uint16_t d16[32];
    uint32_t ordered = 0;
    _mm512_storeu_si512((void *)d16, dv);
    for (int f = 0; f < 8; f++) {
        d[2 * f] = d16[f];
        d[2 * f + 1] = d16[16 + f];
        ordered |= ((m >> f) & 1u) << (2 * f) | ((m >> (16 + f)) & 1u) << (2 * f + 1);
    }
    return ordered;
}

#define QUERY_ZMM(q) _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q))), \
                                        _mm256_loadu_si256((const __m256i *)(q)), 1)
DEFINE_TOPK32_FUSED(topk32_avx512, FE_TARGET_AVX512_VPOPCNTDQ, 16, __m512i, QUERY_ZMM, step16_avx512)
DEFINE_BELOW32(below32_avx512, FE_TARGET_AVX512_VPOPCNTDQ, 16, __m512i, QUERY_ZMM, step16_avx512)

/* The batch path for 32-byte codes (several queries): each database block is first transposed into
 * word-major groups of 8 codes (tw[32 g + 8 w + c] = 64-bit word w of code 8 g + c), which every query
 * then scans with 4 x (load, xor with its word w broadcast, vpopcntq) and 3 adds per 8 codes: the
 * distances land one per qword lane, without the horizontal packing of step16_avx512. The transpose
 * costs one pass over the block, shared by all the queries. Candidates are offered in index order
 * (ties to the smaller index), as in DEFINE_TOPK32_FUSED. Returns 0, or -1 when the block buffer
 * cannot be allocated (nothing written). */
enum { BATCH_MIN_QUERIES = 12 }; /* below it the transpose costs more than it saves (1M codes, Zen 4) */
/* Transposed block bytes: 512 codes, so that every query reads the block from L1 (Zen 4, 100 queries
 * over 1M codes: 12.8 cycles per query and 16 codes from L1, 15.4 from L2 at the former 128 KB). */
enum { BATCH_BLOCK_BYTES = 16 * 1024 };
static FE_TARGET_AVX512_VPOPCNTDQ int topk32_batch_avx512(const uint8_t *queries, size_t nq, size_t q_stride,
                                                          const uint8_t *db, size_t n, size_t stride, size_t k,
                                                          int64_t index_base, int32_t *out_d, int64_t *out_i) {
    const size_t block = BATCH_BLOCK_BYTES / 32; /* codes per block, a multiple of 16 */
    uint64_t *tw = (uint64_t *)malloc(BATCH_BLOCK_BYTES + 64);
    if (!tw) return -1;
    uint64_t *t = (uint64_t *)(((uintptr_t)tw + 63) & ~(uintptr_t)63);
    for (size_t qi = 0; qi < nq; qi++) {
        heap h = {out_d + qi * k, out_i + qi * k, k};
        heap_init(&h);
    }
    for (size_t b0 = 0; b0 < n; b0 += block) {
        const size_t nb = n - b0 < block ? n - b0 : block, full = nb / 16 * 16;
        for (size_t c = 0; c < full; c += 8) { /* an 8 x 4 transpose of qwords: two rounds of vpermt2q */
            const uint8_t *r = db + (b0 + c) * stride;
            const __m512i ab = _mm512_set_epi64(13, 9, 5, 1, 12, 8, 4, 0), hi = _mm512_set_epi64(15, 11, 7, 3, 14, 10, 6, 2);
            const __m512i p01 = load_code_pair(r, stride), p23 = load_code_pair(r + 2 * stride, stride);
            const __m512i p45 = load_code_pair(r + 4 * stride, stride), p67 = load_code_pair(r + 6 * stride, stride);
            /* x_lo: words 0 and 1 of four codes ([c0..c3 w0 | c0..c3 w1]), x_hi: words 2 and 3 */
            const __m512i a_lo = _mm512_permutex2var_epi64(p01, ab, p23), a_hi = _mm512_permutex2var_epi64(p01, hi, p23);
            const __m512i b_lo = _mm512_permutex2var_epi64(p45, ab, p67), b_hi = _mm512_permutex2var_epi64(p45, hi, p67);
            const __m512i first = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), second = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
            uint64_t *o = t + 4 * c;
            _mm512_store_si512((void *)o, _mm512_permutex2var_epi64(a_lo, first, b_lo));
            _mm512_store_si512((void *)(o + 8), _mm512_permutex2var_epi64(a_lo, second, b_lo));
            _mm512_store_si512((void *)(o + 16), _mm512_permutex2var_epi64(a_hi, first, b_hi));
            _mm512_store_si512((void *)(o + 24), _mm512_permutex2var_epi64(a_hi, second, b_hi));
        }
        for (size_t qi = 0; qi < nq; qi++) {
            heap h = {out_d + qi * k, out_i + qi * k, k};
            const uint8_t *q = queries + qi * q_stride;
            const __m512i q0 = _mm512_set1_epi64((long long)load64(q)), q1 = _mm512_set1_epi64((long long)load64(q + 8));
            const __m512i q2 = _mm512_set1_epi64((long long)load64(q + 16)), q3 = _mm512_set1_epi64((long long)load64(q + 24));
            for (size_t s = 0; s < full; s += 16) {
                const uint64_t *g = t + 4 * s; /* groups s / 8 and s / 8 + 1: 64 words */
#define FE_GROUP8(G)                                                                                         \
    _mm512_add_epi64(                                                                                        \
        _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(_mm512_load_si512((const void *)((G) + 0)), q0)),  \
                         _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_load_si512((const void *)((G) + 8)), q1))), \
        _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(_mm512_load_si512((const void *)((G) + 16)), q2)), \
                         _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_load_si512((const void *)((G) + 24)), q3))))
                const __m512i d0 = FE_GROUP8(g), d1 = FE_GROUP8(g + 32);
#undef FE_GROUP8
                const __m512i thr = _mm512_set1_epi64(h.d[0]);
                /* d < thr as thr > d: SIMDe 0.7 has no _mm512_cmplt_epi64_mask */
                uint32_t m = (uint32_t)_mm512_cmpgt_epi64_mask(thr, d0) | (uint32_t)_mm512_cmpgt_epi64_mask(thr, d1) << 8;
                if (!m) continue;
                int64_t d[16];
                _mm512_storeu_si512((void *)d, d0);
                _mm512_storeu_si512((void *)(d + 8), d1);
                for (; m; m &= m - 1) {
                    unsigned j = ctz32(m);
                    if (d[j] < h.d[0]) heap_replace_top(&h, (int32_t)d[j], index_base + (int64_t)(b0 + s + j));
                }
            }
            for (size_t s = b0 + full; s < b0 + nb; s++) {
                int dd;
                CODE_DIST(HW_POPCOUNT, q, db + s * stride, 4, 0, dd);
                if (dd < h.d[0]) heap_replace_top(&h, dd, index_base + (int64_t)s);
            }
        }
    }
    free(tw);
    for (size_t qi = 0; qi < nq; qi++) {
        heap h = {out_d + qi * k, out_i + qi * k, k};
        heap_finish(&h);
    }
    return 0;
}

static FE_TARGET_AVX512_VPOPCNTDQ void topk_avx512(const uint8_t *q, size_t nq, size_t qs, const uint8_t *db,
                                                   size_t n, size_t ds, size_t width, size_t k, int64_t base,
                                                   int32_t *od, int64_t *oi) {
    if (width == 32 && ds >= 32) {
        if (nq < BATCH_MIN_QUERIES || topk32_batch_avx512(q, nq, qs, db, n, ds, k, base, od, oi) != 0)
            topk32_avx512(q, nq, qs, db, n, ds, k, base, od, oi);
        return;
    }
    topk_driver(dist_avx512, select_avx2, q, nq, qs, db, n, ds, width, k, base, od, oi);
}
static FE_TARGET_AVX512_VPOPCNTDQ void distance_avx512(const uint8_t *a, size_t na, size_t as, const uint8_t *b,
                                                       size_t nb, size_t bs, size_t width, int32_t *out, size_t os) {
    distance_driver(dist_avx512, a, na, as, b, nb, bs, width, out, os);
}
#endif /* FE_HAVE_X86_SIMD */

#ifdef FE_HAVE_NEON
/* ---------------------------------------------------------------- neon (vcnt) */

/* Popcount of (q XOR c) over `chunks` 16-byte chunks: byte counts (vcnt) summed in u8 for up to 31
 * chunks (31 * 8 < 256), then widened. */
static inline uint32_t code_cnt_neon(const uint8_t *q, const uint8_t *c, size_t chunks) {
    uint32_t total = 0;
    size_t j = 0;
    while (j < chunks) {
        size_t stop = chunks - j > 31 ? j + 31 : chunks;
        uint8x16_t bytes = vdupq_n_u8(0);
        for (; j < stop; j++) bytes = vaddq_u8(bytes, vcntq_u8(veorq_u8(vld1q_u8(q + 16 * j), vld1q_u8(c + 16 * j))));
        total += vaddlvq_u8(bytes);
    }
    return total;
}

/* 256-bit codes, four at a time: the byte counts of each code are folded pairwise (vpaddq) so one
 * widening add per four codes gives their four distances. */
static void dist32_neon(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, int32_t *out) {
    const uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
    size_t j = 0;
    const int pf = fe_scan_prefetch();
    for (; j + 4 <= n; j += 4) {
        uint8x16_t c[4];
        if (pf) prefetch_rows(codes + j * stride, 4 * stride);
        for (int t = 0; t < 4; t++) {
            const uint8_t *r = codes + (j + t) * stride;
            c[t] = vaddq_u8(vcntq_u8(veorq_u8(vld1q_u8(r), q0)), vcntq_u8(veorq_u8(vld1q_u8(r + 16), q1)));
        }
        /* two vpaddq levels: byte lanes 4t..4t+3 hold partial sums of code t (each <= 64) */
        uint8x16_t s = vpaddq_u8(vpaddq_u8(c[0], c[1]), vpaddq_u8(c[2], c[3]));
        uint16x8_t s16 = vpaddlq_u8(s);          /* lanes 2t, 2t+1 for code t */
        uint32x4_t s32 = vpaddlq_u16(s16);       /* lane t: code t */
        vst1q_s32(out + j, vreinterpretq_s32_u32(s32));
    }
    for (; j < n; j++) out[j] = (int32_t)code_cnt_neon(q, codes + j * stride, 2);
}

static void dist_neon(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, size_t width, int32_t *out) {
    if (width == 32) {
        dist32_neon(q, codes, n, stride, out);
        return;
    }
    const size_t chunks = width / 16, tail = width % 16, words = tail / 8, rem = tail % 8;
    const int pf = fe_scan_prefetch();
    for (size_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * stride;
        if (pf && (j & 7) == 0) prefetch_rows(c, 8 * stride);
        int t = 0;
        if (tail) CODE_DIST(SCALAR_POPCOUNT, q + 16 * chunks, c + 16 * chunks, words, rem, t);
        out[j] = (int32_t)code_cnt_neon(q, c, chunks) + t;
    }
}

static void topk_neon(const uint8_t *q, size_t nq, size_t qs, const uint8_t *db, size_t n, size_t ds, size_t width,
                      size_t k, int64_t base, int32_t *od, int64_t *oi) {
    topk_driver(dist_neon, select_scalar, q, nq, qs, db, n, ds, width, k, base, od, oi);
}
static void distance_neon(const uint8_t *a, size_t na, size_t as, const uint8_t *b, size_t nb, size_t bs,
                          size_t width, int32_t *out, size_t os) {
    distance_driver(dist_neon, a, na, as, b, nb, bs, width, out, os);
}
#endif /* FE_HAVE_NEON */

/* ---------------------------------------------------------------- dispatch */

typedef void (*topk_fn)(const uint8_t *, size_t, size_t, const uint8_t *, size_t, size_t, size_t, size_t, int64_t,
                        int32_t *, int64_t *);
typedef void (*distance_fn)(const uint8_t *, size_t, size_t, const uint8_t *, size_t, size_t, size_t, int32_t *,
                            size_t);

#define NEED_VPOPCNTDQ (FE_NEED_AVX512 | FE_CPU_AVX512VPOPCNTDQ)

static const fe_variant topk_variants[] = {
#ifdef FE_HAVE_X86_SIMD
    {"avx512_vpopcntdq", NEED_VPOPCNTDQ, (fe_fn)topk_avx512},
    {"avx2", FE_NEED_AVX2, (fe_fn)topk_avx2},
    {"popcnt", FE_CPU_POPCNT, (fe_fn)topk_popcnt},
#endif
#ifdef FE_HAVE_NEON
    {"neon", FE_CPU_NEON, (fe_fn)topk_neon},
#endif
    {"scalar", 0, (fe_fn)topk_scalar},
};
static const fe_variant distance_variants[] = {
#ifdef FE_HAVE_X86_SIMD
    {"avx512_vpopcntdq", NEED_VPOPCNTDQ, (fe_fn)distance_avx512},
    {"avx2", FE_NEED_AVX2, (fe_fn)distance_avx2},
    {"popcnt", FE_CPU_POPCNT, (fe_fn)distance_popcnt},
#endif
#ifdef FE_HAVE_NEON
    {"neon", FE_CPU_NEON, (fe_fn)distance_neon},
#endif
    {"scalar", 0, (fe_fn)distance_scalar},
};

static fe_kernel topk_kernel = {"hamming_topk", topk_variants, sizeof(topk_variants) / sizeof(topk_variants[0]), 0};
static fe_kernel distance_kernel = {"hamming_distance", distance_variants,
                                    sizeof(distance_variants) / sizeof(distance_variants[0]), 0};

fe_kernel *const fe_hamming_kernels[] = {&distance_kernel, &topk_kernel, NULL};

void fe_hamming_distance(const uint8_t *a, size_t na, size_t a_stride, const uint8_t *b, size_t nb,
                         size_t b_stride, size_t width, int32_t *out, size_t out_stride) {
    if (na == 0 || nb == 0) return;
    FE_ACTIVE(distance_kernel, distance_fn)(a, na, a_stride, b, nb, b_stride, width, out, out_stride);
}

void fe_hamming_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n,
                     size_t db_stride, size_t width, size_t k, int64_t index_base, int32_t *out_d,
                     int64_t *out_i) {
    if (nq == 0 || k == 0) return;
    FE_ACTIVE(topk_kernel, topk_fn)(queries, nq, q_stride, db, n, db_stride, width, k, index_base, out_d, out_i);
}

size_t fe_hamming_below(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, size_t width, int32_t thr,
                        size_t readable, uint32_t *out_j, int32_t *out_d) {
    int32_t buf[BATCH];
    size_t c = 0;
    if (thr > (int32_t)(8 * width) + 1) thr = (int32_t)(8 * width) + 1; /* every row passes: no overflow */
#ifdef FE_HAVE_X86_SIMD
    if (width == 32 && stride >= 32) {
        /* the fused SIMD step of the active hamming_topk variant, when it has one */
        fe_fn active = topk_kernel.variants[topk_kernel.active].fn;
        if (active == (fe_fn)topk_avx512) return below32_avx512(q, codes, n, stride, thr, readable, out_j, out_d);
        if (active == (fe_fn)topk_avx2) return below32_avx2(q, codes, n, stride, thr, readable, out_j, out_d);
    }
#endif
    for (size_t s = 0; s < n; s += BATCH) {
        size_t m = n - s < BATCH ? n - s : BATCH;
        FE_ACTIVE(distance_kernel, distance_fn)(q, 1, width, codes + s * stride, m, stride, width, buf, m);
        for (size_t j = 0; j < m; j++)
            if (buf[j] < thr) {
                out_j[c] = (uint32_t)(s + j);
                out_d[c++] = buf[j];
            }
    }
    return c;
}

void fe_hamming_merge(const int32_t *d, const int64_t *ix, size_t nq, size_t parts, size_t kp, size_t k,
                      int32_t *out_d, int64_t *out_i) {
    enum { MAX_PARTS = 64 };
    if (parts > MAX_PARTS) parts = MAX_PARTS; /* the binding refuses more */
    for (size_t q = 0; q < nq; q++) {
        size_t pos[MAX_PARTS] = {0};
        const int32_t *dq = d + q * parts * kp;
        const int64_t *iq = ix + q * parts * kp;
        for (size_t o = 0; o < k; o++) {
            size_t best = parts;
            int32_t bd = 0;
            uint64_t bi = 0;
            for (size_t p = 0; p < parts; p++) {
                if (pos[p] >= kp) continue;
                int32_t dv = dq[p * kp + pos[p]];
                uint64_t iv = (uint64_t)iq[p * kp + pos[p]]; /* -1 -> the largest */
                if (best == parts || dv < bd || (dv == bd && iv < bi)) {
                    best = p;
                    bd = dv;
                    bi = iv;
                }
            }
            out_d[q * k + o] = bd;
            out_i[q * k + o] = (int64_t)bi;
            pos[best]++;
        }
    }
}

/* ---- the database split on the C pool ------------------------------------------------------------ */

typedef struct {
    const uint8_t *q, *db;
    size_t nq, q_stride, n, db_stride, width, k, parts;
    int32_t *d;  /* [parts][nq][k] */
    int64_t *ix;
} split_job;

static void split_part(void *ctx, size_t p) {
    const split_job *j = (const split_job *)ctx;
    size_t step = j->n / j->parts, extra = j->n % j->parts;
    size_t start = p * step + (p < extra ? p : extra), len = step + (p < extra);
    fe_hamming_topk(j->q, j->nq, j->q_stride, j->db + start * j->db_stride, len, j->db_stride, j->width, j->k,
                    (int64_t)start, j->d + p * j->nq * j->k, j->ix + p * j->nq * j->k);
}

int fe_hamming_topk_split(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n,
                          size_t db_stride, size_t width, size_t k, size_t parts, int32_t *out_d, int64_t *out_i) {
    if (parts < 1) parts = 1;
    if (parts > FE_POOL_MAX_PARTS) parts = FE_POOL_MAX_PARTS;
    if (parts > n) parts = n ? n : 1;
    if (parts == 1) {
        fe_hamming_topk(queries, nq, q_stride, db, n, db_stride, width, k, 0, out_d, out_i);
        return 0;
    }
    size_t cells = parts * nq * k;
    int32_t *d = malloc(2 * cells * sizeof(int32_t));
    int64_t *ix = malloc(2 * cells * sizeof(int64_t));
    if (!d || !ix) {
        free(d);
        free(ix);
        return -1;
    }
    split_job job = {queries, db, nq, q_stride, n, db_stride, width, k, parts, d, ix};
    fe_pool_run(split_part, &job, parts);
    /* [parts][nq][k] -> [nq][parts][k], the runs fe_hamming_merge takes */
    int32_t *dm = d + cells;
    int64_t *im = ix + cells;
    for (size_t p = 0; p < parts; p++)
        for (size_t i = 0; i < nq; i++) {
            memcpy(dm + (i * parts + p) * k, d + (p * nq + i) * k, k * sizeof(int32_t));
            memcpy(im + (i * parts + p) * k, ix + (p * nq + i) * k, k * sizeof(int64_t));
        }
    fe_hamming_merge(dm, im, nq, parts, k, k, out_d, out_i);
    free(d);
    free(ix);
    return 0;
}
