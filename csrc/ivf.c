/* Top-k over the probed inverted lists of an IVF binary index (see ivf.h).
 *
 * Rows are filtered 256 at a time by fe_hamming_below (the fused SIMD step of the exact top-k in
 * hamming.c: distances and the threshold test in registers) against the worst of a bounded max-heap,
 * keyed by (distance, external id), that keeps the k best rows. Keying ties by the external id (not the row number) makes the result independent of the
 * order of the lists and of how rows were added, so it equals an exact search over the same ids.
 */
#include "ivf.h"

#include "hamming.h"

enum { IVF_BATCH = 256 };
enum { IVF_PREFETCH_BYTES = 16384 }; /* the next probed list (its first 16 KB), fetched while this one is scanned */

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

static void ivf_reset(ivf_heap *h) {
    for (size_t j = 0; j < h->k; j++) {
        h->d[j] = INT32_MAX;
        h->r[j] = -1;
        h->id[j] = INT64_MAX;
    }
}

/* Offers rows [s, s + m) of the codes to the heap: fe_hamming_below keeps the rows at most as far as the
 * heap's worst (the fused SIMD filter of the exact scan), then their (distance, id) keys decide. */
/* Whether the heap already holds the pair (d, id) (an id stored in several lists, same code). */
static int ivf_holds(const ivf_heap *h, int32_t d, int64_t id) {
    for (size_t j = 0; j < h->k; j++)
        if (h->id[j] == id && h->d[j] == d) return 1;
    return 0;
}

static inline void ivf_offer(ivf_heap *h, const uint8_t *q, const uint8_t *codes, size_t stride, size_t width,
                             size_t s, size_t m, size_t e, const int64_t *ids, int distinct) {
    uint32_t cj[IVF_BATCH];
    int32_t cd[IVF_BATCH];
    size_t nc = fe_hamming_below(q, codes + s * stride, m, stride, width,
                                 h->d[0] == INT32_MAX ? INT32_MAX : h->d[0] + 1, (e - s) * stride, cj, cd);
    for (size_t c = 0; c < nc; c++) {
        int32_t dv = cd[c];
        if (dv > h->d[0]) continue; /* the heap tightened since the filter ran */
        size_t r = s + cj[c];
        int64_t iv = ids[r];
        if (key_gt(h->d[0], h->id[0], dv, iv) && !(distinct && ivf_holds(h, dv, iv)))
            ivf_sift_down(h, h->k, 0, dv, (int64_t)r, iv);
    }
}

/* Heap -> ascending (distance, id) order. */
static void ivf_sort(ivf_heap *h) {
    for (size_t end = h->k; end > 1; end--) {
        int32_t dv = h->d[end - 1];
        int64_t rv = h->r[end - 1], iv = h->id[end - 1];
        h->d[end - 1] = h->d[0];
        h->r[end - 1] = h->r[0];
        h->id[end - 1] = h->id[0];
        ivf_sift_down(h, end - 1, 0, dv, rv, iv);
    }
}

static void ivf_prefetch_range(const uint8_t *codes, size_t stride, int64_t start, int64_t end) {
    /* lists sit at random places: start pulling in the next one (never past its end) */
    size_t bytes = end > start ? (size_t)(end - start) * stride : 0;
    if (bytes > IVF_PREFETCH_BYTES) bytes = IVF_PREFETCH_BYTES;
    for (size_t o = 0; o < bytes; o += 64) IVF_PREFETCH(codes + (size_t)start * stride + o);
}

void fe_ivf_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes, size_t code_stride,
                 size_t width, const int64_t *ids, const int64_t *starts, const int64_t *ends, size_t nranges,
                 size_t k, int32_t *out_d, int64_t *out_r, int64_t *work) {
    if (k == 0) return;
    for (size_t i = 0; i < nq; i++) {
        ivf_heap h = {out_d + i * k, out_r + i * k, work, k};
        const uint8_t *q = queries + i * q_stride;
        const int64_t *st = starts + i * nranges, *en = ends + i * nranges;
        ivf_reset(&h);
        for (size_t p = 0; p < nranges; p++) {
            if (p + 1 < nranges) ivf_prefetch_range(codes, code_stride, st[p + 1], en[p + 1]);
            for (size_t s = (size_t)st[p], e = (size_t)en[p]; s < e; s += IVF_BATCH) {
                size_t m = e - s < IVF_BATCH ? e - s : IVF_BATCH;
                ivf_offer(&h, q, codes, code_stride, width, s, m, e, ids, 0);
            }
        }
        ivf_sort(&h);
    }
}

void fe_ivf_topk_grouped(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes,
                         size_t code_stride, size_t width, const int64_t *ids, const int64_t *starts,
                         const int64_t *ends, size_t ngroups, const int64_t *group_offsets,
                         const int64_t *group_queries, size_t k, int32_t *out_d, int64_t *out_r, int64_t *work) {
    if (k == 0) return;
    for (size_t i = 0; i < nq; i++) {
        ivf_heap h = {out_d + i * k, out_r + i * k, work + i * k, k};
        ivf_reset(&h);
    }
    for (size_t g = 0; g < ngroups; g++) {
        if (g + 1 < ngroups) ivf_prefetch_range(codes, code_stride, starts[g + 1], ends[g + 1]);
        /* one chunk of the list at a time, offered to every query of the group while it is in L1 */
        for (size_t s = (size_t)starts[g], e = (size_t)ends[g]; s < e; s += IVF_BATCH) {
            size_t m = e - s < IVF_BATCH ? e - s : IVF_BATCH;
            for (int64_t t = group_offsets[g]; t < group_offsets[g + 1]; t++) {
                size_t i = (size_t)group_queries[t];
                ivf_heap h = {out_d + i * k, out_r + i * k, work + i * k, k};
                ivf_offer(&h, queries + i * q_stride, codes, code_stride, width, s, m, e, ids, 0);
            }
        }
    }
    for (size_t i = 0; i < nq; i++) {
        ivf_heap h = {out_d + i * k, out_r + i * k, work + i * k, k};
        ivf_sort(&h);
    }
}

void fe_ivf_probe(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *centroids, size_t nlist,
                  size_t c_stride, size_t width, size_t nprobe, int64_t *out, int32_t *work) {
    int32_t *dist = work, *hist = work + nlist;
    size_t bins = 8 * width + 1;
    for (size_t i = 0; i < nq; i++) {
        int64_t *o = out + i * nprobe;
        fe_hamming_distance(queries + i * q_stride, 1, width, centroids, nlist, c_stride, width, dist, nlist);
        for (size_t b = 0; b < bins; b++) hist[b] = 0;
        for (size_t l = 0; l < nlist; l++) hist[dist[l]]++;
        size_t below = 0, cut = 0;
        while (below + (size_t)hist[cut] < nprobe) below += (size_t)hist[cut++];
        size_t need = nprobe - below, n = 0;
        for (size_t l = 0; l < nlist && n < nprobe; l++) {
            if ((size_t)dist[l] < cut || ((size_t)dist[l] == cut && need > 0)) {
                if ((size_t)dist[l] == cut) need--;
                o[n++] = (int64_t)l;
            }
        }
    }
}

/* The nprobe nearest lists of one query, nearest first: a counting sort of the lists by distance over
 * the histogram (ties in list order), the lists at the cut-off distance taken in list order as in
 * fe_ivf_probe (the same set). dist: nlist distances; hist: 8 * width + 1 bins; order: nprobe slots. */
static void ivf_probe_sorted(const int32_t *dist, size_t nlist, size_t bins, size_t nprobe, int32_t *hist,
                             int32_t *order) {
    for (size_t b = 0; b < bins; b++) hist[b] = 0;
    for (size_t l = 0; l < nlist; l++) hist[dist[l]]++;
    size_t below = 0, cut = 0;
    while (below + (size_t)hist[cut] < nprobe) below += (size_t)hist[cut++];
    /* hist[b] becomes the first slot of distance b (b <= cut); the cut-off bin gets nprobe - below slots */
    int32_t pos = 0;
    for (size_t b = 0; b <= cut; b++) {
        int32_t c = hist[b];
        hist[b] = pos;
        pos += c;
    }
    int32_t end_cut = (int32_t)nprobe;
    for (size_t l = 0; l < nlist; l++) {
        size_t d = (size_t)dist[l];
        if (d < cut || (d == cut && hist[cut] < end_cut)) order[hist[d]++] = (int32_t)l;
    }
}

int fe_ivf_search(const uint8_t *q, const uint8_t *centroids, size_t nlist, size_t c_stride, size_t width,
                  size_t nprobe, const int64_t *offsets, const uint8_t *codes, size_t code_stride, size_t n,
                  const int64_t *ids, size_t k, int distinct, int32_t *out_d, int64_t *out_r, int32_t *work,
                  int64_t *work_k) {
    if (k == 0) return 0;
    int32_t *dist = work, *order = work + nlist, *hist = work + nlist + nprobe;
    fe_hamming_distance(q, 1, width, centroids, nlist, c_stride, width, dist, nlist);
    ivf_probe_sorted(dist, nlist, 8 * width + 1, nprobe, hist, order);
    for (size_t p = 0; p < nprobe; p++) { /* the lists must lie within the rows (checked before any scan) */
        int64_t s = offsets[order[p]], e = offsets[order[p] + 1];
        if (s < 0 || s > e || (uint64_t)e > (uint64_t)n) return -1;
    }
    ivf_heap h = {out_d, out_r, work_k, k};
    ivf_reset(&h);
    for (size_t p = 0; p < nprobe; p++) {
        if (p + 1 < nprobe) ivf_prefetch_range(codes, code_stride, offsets[order[p + 1]], offsets[order[p + 1] + 1]);
        for (size_t s = (size_t)offsets[order[p]], e = (size_t)offsets[order[p] + 1]; s < e; s += IVF_BATCH) {
            size_t m = e - s < IVF_BATCH ? e - s : IVF_BATCH;
            ivf_offer(&h, q, codes, code_stride, width, s, m, e, ids, distinct);
        }
    }
    ivf_sort(&h);
    return 0;
}
