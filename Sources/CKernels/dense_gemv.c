// y = alpha · x·Wᵀ + beta · y for a few rows of x (decoding: the LoRA factors, fp32 weights):
// each weight row is read once and multiplied into up to 4 rows of x at a time, accumulators in
// registers, so a product streams W at memory speed where sgemm would first pack it.
// reference: llama.cpp ggml_vec_dot_f32 (one weight row against the activations)
#include "CKernels.h"
#include "simd_internal.h"
#include <stdint.h>

static void dense_rows_scalar(const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end, const float *x,
                              int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy) {
    for (int64_t o = row_begin; o < row_end; ++o)
        for (int64_t b = 0; b < batch; ++b) {
            float total = 0;
            for (int64_t i = 0; i < in; ++i) total += x[b * ldx + i] * w[o * ldw + i];
            y[b * ldy + o] = alpha * total + (beta == 0 ? 0 : beta * y[b * ldy + o]);
        }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// One weight row into `nb` (1…4, constant after inlining) rows of x; the last in % 16 elements
// through a masked load.
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline))
static inline void row_avx512(const float *wo, int64_t in, const float *x, int64_t ldx, const int nb, float alpha, float beta,
                              float *y, int64_t ldy) {
    __m512 acc[4];
    for (int b = 0; b < nb; ++b) acc[b] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= in; k += 16) {
        __m512 wk = _mm512_loadu_ps(wo + k);
        for (int b = 0; b < nb; ++b) acc[b] = _mm512_fmadd_ps(wk, _mm512_loadu_ps(x + b * ldx + k), acc[b]);
    }
    if (k < in) {
        __mmask16 mask = (__mmask16)((1u << (in - k)) - 1);
        __m512 wk = _mm512_maskz_loadu_ps(mask, wo + k);
        for (int b = 0; b < nb; ++b) acc[b] = _mm512_fmadd_ps(wk, _mm512_maskz_loadu_ps(mask, x + b * ldx + k), acc[b]);
    }
    for (int b = 0; b < nb; ++b) {
        float total = alpha * _mm512_reduce_add_ps(acc[b]);
        y[b * ldy] = beta == 0 ? total : total + beta * y[b * ldy];
    }
}

// `loft_dense_gemv` on AVX-512: every weight row against x, 4 rows of x per register group.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static void dense_rows_avx512(const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end, const float *x,
                              int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy) {
    for (int64_t o = row_begin; o < row_end; ++o)
        for (int64_t b0 = 0; b0 < batch; b0 += 4) {
            const float *xb = x + b0 * ldx;
            float *yb = y + b0 * ldy + o;
            switch (batch - b0 >= 4 ? 4 : batch - b0) {
            case 4: row_avx512(w + o * ldw, in, xb, ldx, 4, alpha, beta, yb, ldy); break;
            case 3: row_avx512(w + o * ldw, in, xb, ldx, 3, alpha, beta, yb, ldy); break;
            case 2: row_avx512(w + o * ldw, in, xb, ldx, 2, alpha, beta, yb, ldy); break;
            default: row_avx512(w + o * ldw, in, xb, ldx, 1, alpha, beta, yb, ldy); break;
            }
        }
}


// One weight row into `nb` (1…4) rows of x; the last in % 8 elements in scalar.
__attribute__((target("avx2,fma"), always_inline))
static inline void row_avx2(const float *wo, int64_t in, const float *x, int64_t ldx, const int nb, float alpha, float beta,
                            float *y, int64_t ldy) {
    __m256 acc[4];
    for (int b = 0; b < nb; ++b) acc[b] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= in; k += 8) {
        __m256 wk = _mm256_loadu_ps(wo + k);
        for (int b = 0; b < nb; ++b) acc[b] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x + b * ldx + k), acc[b]);
    }
    for (int b = 0; b < nb; ++b) {
        float total = loft_hsum8(acc[b]);
        for (int64_t i = k; i < in; ++i) total += wo[i] * x[b * ldx + i];
        total *= alpha;
        y[b * ldy] = beta == 0 ? total : total + beta * y[b * ldy];
    }
}

// `loft_dense_gemv` on AVX2 (see dense_rows_avx512).
__attribute__((target("avx2,fma")))
static void dense_rows_avx2(const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end, const float *x,
                            int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy) {
    for (int64_t o = row_begin; o < row_end; ++o)
        for (int64_t b0 = 0; b0 < batch; b0 += 4) {
            const float *xb = x + b0 * ldx;
            float *yb = y + b0 * ldy + o;
            switch (batch - b0 >= 4 ? 4 : batch - b0) {
            case 4: row_avx2(w + o * ldw, in, xb, ldx, 4, alpha, beta, yb, ldy); break;
            case 3: row_avx2(w + o * ldw, in, xb, ldx, 3, alpha, beta, yb, ldy); break;
            case 2: row_avx2(w + o * ldw, in, xb, ldx, 2, alpha, beta, yb, ldy); break;
            default: row_avx2(w + o * ldw, in, xb, ldx, 1, alpha, beta, yb, ldy); break;
            }
        }
}
#endif

int loft_dense_gemv(loft_simd_path path, const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end,
                    const float *x, int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy) {
    if (in < 0 || batch < 0 || row_begin > row_end || !loft_simd_supported(path)) return 0;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512) {
        dense_rows_avx512(w, ldw, in, row_begin, row_end, x, ldx, batch, alpha, beta, y, ldy);
        return 1;
    }
    if (path == LOFT_SIMD_AVX2) {
        dense_rows_avx2(w, ldw, in, row_begin, row_end, x, ldx, batch, alpha, beta, y, ldy);
        return 1;
    }
#endif
    dense_rows_scalar(w, ldw, in, row_begin, row_end, x, ldx, batch, alpha, beta, y, ldy);
    return 1;
}
