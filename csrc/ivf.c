/* Top-k over the probed inverted lists of an IVF binary index (see ivf.h).
 *
 * Distances come from fe_hamming_distance (the dispatched SIMD variants of hamming.c), 256 rows at a
 * time into an L1-resident buffer; a bounded max-heap keyed by (distance, external id) keeps the k
 * best rows. Keying ties by the external id (not the row number) makes the result independent of the
 * order of the lists and of how rows were added, so it equals an exact search over the same ids.
 */
#include "ivf.h"

#include "hamming.h"

enum { IVF_BATCH = 256 };
enum { IVF_PREFETCH_BYTES = 4096 }; /* the head of the next probed list, fetched while this one is scanned */

#if defined(__GNUC__) || defined(__clang__)
#define IVF_PREFETCH(p) __builtin_prefetch((const void *)(p), 0, 3)
#else
#define IVF_PREFETCH(p) ((void)0)
#endif

typedef struct {
    int32_t *d;
    int64_t *r;   /* row numbers */
    int64_t *id;  /* their external ids (the tie-break key) */
    size_t k;
} ivf_heap;

static inline int key_gt(int32_t da, int64_t ia, int32_t db, int64_t ib) { return da > db || (da == db && ia > ib); }

static void ivf_sift_down(ivf_heap *h, size_t n, size_t pos, int32_t dv, int64_t rv, int64_t iv) {
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= n) break;
        if (c + 1 < n && key_gt(h->d[c + 1], h->id[c + 1], h->d[c], h->id[c])) c++;
        if (!key_gt(h->d[c], h->id[c], dv, iv)) break;
        h->d[pos] = h->d[c];
        h->r[pos] = h->r[c];
        h->id[pos] = h->id[c];
        pos = c;
    }
    h->d[pos] = dv;
    h->r[pos] = rv;
    h->id[pos] = iv;
}

static void ivf_query(const uint8_t *q, const uint8_t *codes, size_t stride, size_t width, const int64_t *ids,
                      const int64_t *starts, const int64_t *ends, size_t nranges, ivf_heap *h) {
    int32_t buf[IVF_BATCH];
    for (size_t j = 0; j < h->k; j++) {
        h->d[j] = INT32_MAX;
        h->r[j] = -1;
        h->id[j] = INT64_MAX;
    }
    for (size_t p = 0; p < nranges; p++) {
        if (p + 1 < nranges && ends[p + 1] > starts[p + 1]) {
            /* lists sit at random places: start pulling in the next one (never past its end) */
            const uint8_t *next = codes + (size_t)starts[p + 1] * stride;
            size_t bytes = (size_t)(ends[p + 1] - starts[p + 1]) * stride;
            if (bytes > IVF_PREFETCH_BYTES) bytes = IVF_PREFETCH_BYTES;
            for (size_t o = 0; o < bytes; o += 64) IVF_PREFETCH(next + o);
        }
        for (size_t s = (size_t)starts[p], e = (size_t)ends[p]; s < e; s += IVF_BATCH) {
            size_t m = e - s < IVF_BATCH ? e - s : IVF_BATCH;
            fe_hamming_distance(q, 1, width, codes + s * stride, m, stride, width, buf, m);
            for (size_t j = 0; j < m; j++) {
                int32_t dv = buf[j];
                if (dv > h->d[0]) continue;
                int64_t iv = ids[s + j];
                if (key_gt(h->d[0], h->id[0], dv, iv)) ivf_sift_down(h, h->k, 0, dv, (int64_t)(s + j), iv);
            }
        }
    }
    /* heap -> ascending order */
    for (size_t end = h->k; end > 1; end--) {
        int32_t dv = h->d[end - 1];
        int64_t rv = h->r[end - 1], iv = h->id[end - 1];
        h->d[end - 1] = h->d[0];
        h->r[end - 1] = h->r[0];
        h->id[end - 1] = h->id[0];
        ivf_sift_down(h, end - 1, 0, dv, rv, iv);
    }
}

void fe_ivf_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes, size_t code_stride,
                 size_t width, const int64_t *ids, const int64_t *starts, const int64_t *ends, size_t nranges,
                 size_t k, int32_t *out_d, int64_t *out_r, int64_t *work) {
    if (k == 0) return;
    for (size_t i = 0; i < nq; i++) {
        ivf_heap h = {out_d + i * k, out_r + i * k, work, k};
        ivf_query(queries + i * q_stride, codes, code_stride, width, ids, starts + i * nranges, ends + i * nranges,
                  nranges, &h);
    }
}
