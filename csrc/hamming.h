/* Hamming distance and exact top-k over packed binary codes.
 *
 * Codes are rows of `width` bytes (bit i of a vector is bit 7 - i % 8 of byte i / 8, MSB-first, as
 * np.packbits). Rows may be `stride` bytes apart (stride >= width), so the first bytes of longer codes
 * (Matryoshka truncation) can be searched in place. The contracts are written out in
 * fastembed_core/_ref/hamming.py.
 */
#ifndef FE_HAMMING_H
#define FE_HAMMING_H
#include "cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[i * out_stride + j] = popcount(a_i XOR b_j) for i < na, j < nb. */
void fe_hamming_distance(const uint8_t *a, size_t na, size_t a_stride, const uint8_t *b, size_t nb,
                         size_t b_stride, size_t width, int32_t *out, size_t out_stride);

/* For each query i < nq, the min(k, n) database rows with the smallest (distance, index) pairs, in
 * ascending order, into out_d[i * k ...] / out_i[i * k ...]; indices are index_base + row. Slots past n
 * are (INT32_MAX, -1). Exact and deterministic: ties go to the smaller index. */
void fe_hamming_topk(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n,
                     size_t db_stride, size_t width, size_t k, int64_t index_base, int32_t *out_d,
                     int64_t *out_i);

/* The rows j < n of `codes` (rows `stride` bytes apart) whose distance to the one query q is smaller
 * than thr: their numbers j, ascending, into out_j and their distances into out_d (room for n entries
 * each); returns how many. A scan that keeps its own top-k (the IVF list scan) filters runs of rows
 * with it at the fused top-k's speed. Uses the SIMD step of the active hamming_topk variant, and
 * prefetches ahead, as the exact scan does, but never past the first `readable` bytes from `codes` (the
 * end of the caller's run of rows: a list scan does not pull in the next list's neighbours). */
size_t fe_hamming_below(const uint8_t *q, const uint8_t *codes, size_t n, size_t stride, size_t width, int32_t thr,
                        size_t readable, uint32_t *out_j, int32_t *out_d);

/* Merges, per query i < nq, `parts` runs of kp (distance, index) pairs that are each sorted
 * ascending (d[i * parts * kp + p * kp ...], likewise ix) into the first k pairs of their union, in
 * (distance, index) order, into out_d[i * k ...] / out_i[i * k ...]. Index -1 (an unused slot, distance
 * INT32_MAX) sorts after every real index. k <= parts * kp. */
void fe_hamming_merge(const int32_t *d, const int64_t *ix, size_t nq, size_t parts, size_t kp, size_t k,
                      int32_t *out_d, int64_t *out_i);

/* fe_hamming_topk (same arguments and results) with the database split into `parts` contiguous ranges
 * (sizes differing by at most one) scanned on the C worker pool (pool.h), then merged. parts in
 * [1, FE_POOL_MAX_PARTS]. Returns 0, or -1 if its scratch memory could not be allocated. */
int fe_hamming_topk_split(const uint8_t *queries, size_t nq, size_t q_stride, const uint8_t *db, size_t n,
                          size_t db_stride, size_t width, size_t k, size_t parts, int32_t *out_d, int64_t *out_i);

#ifdef __cplusplus
}
#endif
#endif
