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

enum { FE_TABLE_F32 = 0, FE_TABLE_F16 = 1, FE_TABLE_I8 = 2 };

/* fe_gather_args.normalize flags. FE_ROUND_F16: round each mean to float16 before normalising
 * (model2vec's float16 tables: its mean is float16); the output stays float32. */
enum { FE_NORMALIZE = 1, FE_ROUND_F16 = 2 };

typedef struct {
    const void *table;     /* [rows, dim] of dtype; elements of a row are contiguous */
    int64_t row_stride;    /* bytes between rows */
    int32_t dtype;         /* FE_TABLE_* */
    int64_t dim;
    const int32_t *ids;    /* flat token ids */
    const int64_t *offsets; /* [n_bags + 1] */
    const int32_t *mapping; /* [V] or NULL */
    const float *weights;   /* [V] or NULL */
    const float *scales;    /* [rows] or NULL */
    int normalize;          /* FE_NORMALIZE | FE_ROUND_F16 */
    float *out;            /* [n_bags, dim] */
    int64_t out_stride;    /* floats between output rows */
} fe_gather_args;

/* Pools bags [start, stop). */
void fe_gather_mean(const fe_gather_args *a, int64_t start, int64_t stop);

#ifdef __cplusplus
}
#endif
#endif
