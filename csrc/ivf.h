/* Exact top-k by Hamming distance over row ranges of one code array: the scan of an IVF index's
 * probed inverted lists. The contract is written out in fastembed_core/_ref/ivf.py. */
#ifndef FE_IVF_H
#define FE_IVF_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* For each query i < nq: over the rows r in [starts[i * nranges + p], ends[i * nranges + p]) for every
 * p < nranges, the min(k, rows) rows with the smallest (distance, ids[r]) pairs, ascending, into
 * out_d[i * k ...] (distances) and out_r[i * k ...] (row numbers r). Empty slots are (INT32_MAX, -1).
 * Ranges must lie within the code array and must not overlap (the caller checks); `work` is scratch
 * space for k int64. */
void fe_ivf_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes, size_t code_stride,
                 size_t width, const int64_t *ids, const int64_t *starts, const int64_t *ends, size_t nranges,
                 size_t k, int32_t *out_d, int64_t *out_r, int64_t *work);

/* The same result as fe_ivf_topk, computed list-major for a batch: group g is the row range
 * [starts[g], ends[g]) scanned for the queries group_queries[group_offsets[g] .. group_offsets[g + 1])
 * (each < nq), so a list is read from memory once for all the queries that probe it. A query's ranges
 * are the ranges of the groups that list it. `work` is scratch space for nq * k int64. */
void fe_ivf_topk_grouped(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *codes,
                         size_t code_stride, size_t width, const int64_t *ids, const int64_t *starts,
                         const int64_t *ends, size_t ngroups, const int64_t *group_offsets,
                         const int64_t *group_queries, size_t k, int32_t *out_d, int64_t *out_r, int64_t *work);

/* For each query i < nq, its nprobe nearest centroids by (Hamming distance, list number), written in
 * ascending list number to out[i * nprobe ...]; 1 <= nprobe <= nlist. `work` is scratch space for
 * nlist + 8 * width + 1 int32. */
void fe_ivf_probe(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *centroids, size_t nlist,
                  size_t c_stride, size_t width, size_t nprobe, int64_t *out, int32_t *work);

/* One query end to end, in one call: its nprobe nearest lists (the set fe_ivf_probe finds, over the
 * nlist centroids), then fe_ivf_topk over those lists' rows, list l being rows [offsets[l],
 * offsets[l + 1]) of the n rows of codes; the lists are scanned nearest first (the heap tightens
 * sooner; the result does not depend on the order). Returns 0, or -1 (nothing scanned, outputs
 * undefined) if a probed list's offsets are not an ascending range within [0, n]. distinct != 0: a
 * (distance, id) pair already kept is not kept again (an id stored in several lists, with the same
 * code, counts once: the k best distinct ids). `work` is scratch
 * space for nlist + nprobe + 8 * width + 1 int32, `work_k` for k int64; 1 <= nprobe <= nlist. */
int fe_ivf_search(const uint8_t *q, const uint8_t *centroids, size_t nlist, size_t c_stride, size_t width,
                  size_t nprobe, const int64_t *offsets, const uint8_t *codes, size_t code_stride, size_t n,
                  const int64_t *ids, size_t k, int distinct, int32_t *out_d, int64_t *out_r, int32_t *work,
                  int64_t *work_k);

#ifdef __cplusplus
}
#endif
#endif
