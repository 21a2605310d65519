/* Ternary kernels: int8 x ternary matmul with int32 accumulation (gather-mean over 2-bit rows is the
 * FE_TABLE_T2 table dtype of csrc/gather.c).
 *
 * Packed format (also documented in fastembed_core/ternary.py): a row of k weights in {-1,0,1} is
 * padded with zeros to kp = ceil(k / 128) * 128 weights and stored in kp / 4 bytes, as blocks of
 * 32 bytes; bits 2p..2p+1 of byte i of block b hold code = w + 1 of weight 128*b + 32*p + i
 * (p = 0..3). Code 3 is invalid. The numpy reference in fastembed_core/_ref/ternary.py is the
 * specification of every function here. Plain C11, nothing of Python.
 */
#ifndef FE_TERNARY_H
#define FE_TERNARY_H
#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

#define FE_TERNARY_BLOCK 128 /* weights per 32-byte block */

/* Quantise rows of x (float32 [m, k], row stride ldx) to q (int8 [m, ldq], ldq >= kp; columns
 * k..kp-1 are set to 0) with s = min(127 / max|x_row|, FLT_MAX) in float32 (1 for an all-zero row),
 * q = clip(rint(x * s), -128, 127), round half to even. Writes s[m] and qsum[m] = sum(q_row).
 * Returns 0, or -1 (outputs unspecified) when x holds an inf or NaN. */
int fe_ternary_quantize(const float *x, size_t ldx, size_t m, size_t k, int8_t *q, size_t ldq,
                        size_t kp, float *s, int32_t *qsum);

/* For rows i < m of q and weight rows j < n of packed (n rows of kp / 4 bytes):
 * acc = sum_k q[i,k] * w[j,k] in int32. If out is not NULL it receives
 * float32(acc) * wscale[j] / qscale[i] (two float32 operations, left to right), else acc receives
 * acc. Row stride of out / acc: ldo elements. kp is a multiple of FE_TERNARY_BLOCK. il is NULL or
 * the GEMV layout of the same n rows (fe_ternary_gemv_layout), which variants that have a kernel
 * for it use for their GEMV rows; results are the same either way.
 * Returns 0, or -1 when a work buffer cannot be allocated. */
int fe_ternary_matmul(const int8_t *q, size_t ldq, const int32_t *qsum, const float *qscale, size_t m,
                      const uint8_t *packed, size_t kp, const float *wscale, size_t n, float *out,
                      int32_t *acc, size_t ldo, const uint8_t *il);

/* fe_ternary_quantize then fe_ternary_matmul (out form) on a work buffer of its own (on the stack
 * for a few short rows), il as in fe_ternary_matmul: y = x @ W.T for x float32 [m, k] (row stride
 * ldx), out [m, n] (row stride ldo). Returns 0; -1 when x holds an inf or NaN (out unspecified); -2 when a work buffer cannot be
 * allocated. */
int fe_ternary_linear(const float *x, size_t ldx, size_t m, size_t k, const uint8_t *packed, size_t kp,
                      const float *wscale, size_t n, float *out, size_t ldo, const uint8_t *il);

/* The GEMV layout: a second, row-interleaved copy of packed rows for the variants whose GEMV is
 * faster on it (fe_ternary_gemv_layout_used: 1 when the active variant is one). Groups of 16 rows
 * (rows past n: weight 0), each of kp / 16 steps of 64 bytes; in step s of group g, bytes 4r..4r+3
 * are row 16g + r, and bits 2p..2p+1 of byte 4r + j hold the code of weight 16s + 4p + j.
 * fe_ternary_gemv_layout_bytes(n, kp) bytes; the numpy reference is ternary_gemv_layout. */
int fe_ternary_gemv_layout_used(void);
size_t fe_ternary_gemv_layout_bytes(size_t n, size_t kp);
void fe_ternary_gemv_layout(const uint8_t *packed, size_t kp, size_t n, uint8_t *il);

#endif
