/* gather kernels: see the docstring of fastembed_core/_ref/gather.py for the contracts.
 *
 * gather-mean pooling over CSR bags: out[b] = mean over t in ids[offsets[b]:offsets[b+1]] of
 *     table[row(t)] * factor(t),   row(t) = mapping ? mapping[t] : t,
 *     factor(t) = (weights ? weights[t] : 1) * (scales ? scales[row(t)] : 1),
 * accumulated in float32, divided by the bag length (an empty bag gives zeros), then, if
 * normalize, divided by (L2 norm + 1e-32), the norm summed in numpy's pairwise order (bit-identical
 * to numpy, see gather.c). Every index is checked by the caller: this code trusts
 * ids < n_ids-range, mapping values < table rows, monotonic offsets.
 */
#ifndef FE_GATHER_H
#define FE_GATHER_H
#include "cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FE_TABLE_T2: ternary rows of 2-bit codes (code = w + 1, w in {-1, 0, 1}), in the packed layout of
 * fastembed_core/ternary.py: weight j of a row sits in byte (j / 128) * 32 + j % 32, bits
 * 2 * ((j / 32) % 4) and up. Rows are ceil(dim / 128) * 32 bytes (row_stride apart); scales hold the
 * per-row scale. The products w * factor are exact, so the rule below applies unchanged. */
enum { FE_TABLE_F32 = 0, FE_TABLE_F16 = 1, FE_TABLE_I8 = 2, FE_TABLE_T2 = 3 };

/* fe_gather_args.normalize flags. FE_ROUND_F16: round each mean to float16 before normalising
 * (model2vec's float16 tables: its mean is float16); the output stays float32.
 * FE_ROUND_PRODUCT_F16 (float16 and int8 tables): round each product row value * factor to float16
 * before it is added (model2vec's float16 or int8 table times float16 weights: numpy multiplies in
 * float16; the float32 product of two float16 values is exact, so this is numpy's float16 product). */
enum { FE_NORMALIZE = 1, FE_ROUND_F16 = 2, FE_ROUND_PRODUCT_F16 = 4 };

typedef struct {
    const void *table;     /* [rows, dim] of dtype (T2: packed rows); elements of a row are contiguous */
    int64_t row_stride;    /* bytes between rows */
    int32_t dtype;         /* FE_TABLE_* */
    int64_t dim;
    const int32_t *ids;    /* flat token ids */
    const int64_t *offsets; /* [n_bags + 1] */
    const int32_t *mapping; /* [V] or NULL */
    const float *weights;   /* [V] or NULL */
    const float *scales;    /* [rows] or NULL */
    int normalize;          /* FE_NORMALIZE | FE_ROUND_F16 | FE_ROUND_PRODUCT_F16 */
    float *out;            /* [n_bags, dim] */
    int64_t out_stride;    /* floats between output rows */
} fe_gather_args;

/* Pools bags [start, stop). */
void fe_gather_mean(const fe_gather_args *a, int64_t start, int64_t stop);

#ifdef __cplusplus
}
#endif
#endif
