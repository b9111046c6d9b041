// Dense row kernels shared by the dense and the packed-code matrix–vector products; not part of
// the CKernels module's public header.
#pragma once
#include <stdint.h>

/// `y[b·ldy + o] = alpha · Σ_i x[b·ldx + i] · w[o·ldw + i] + beta · y[b·ldy + o]` for rows
/// o in [row_begin, row_end) and b < batch, 16-lane AVX-512 (the caller checked the CPU).
/// `beta` = 0 never reads y.
void loft_dense_rows_avx512(const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end, const float *x,
                            int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy);

/// The same on 8-lane AVX2 + FMA.
void loft_dense_rows_avx2(const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end, const float *x,
                          int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy);
