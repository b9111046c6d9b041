// bf16 matrix product with fp32 accumulation: C = alpha·op(A)·op(B) + beta·C, fp32 in and out,
// every input rounded to bf16 (round to nearest even) as it is packed, products summed in fp32 —
// what PyTorch's bf16 autocast and oneDNN compute on CPUs with AVX512-BF16.
//
// GotoBLAS/BLIS blocking (Goto & van de Geijn, "Anatomy of high-performance matrix
// multiplication", 2008): a KC×NC panel of op(B) and an MC×KC block of op(A) are packed into
// bf16 pairs (two consecutive k of one row or column in one 32-bit word, the operand layout of
// VDPBF16PS), then an MR×NR micro-kernel keeps MR·NR/16 accumulators in registers.
// Two micro-kernels: AVX512-BF16 (VDPBF16PS) and a portable scalar one. Both add each pair as
// `acc += a[2p+1]·b[2p+1]; acc += a[2p]·b[2p]` in fp32 (the product of two bf16 is exact in
// fp32), the order of VDPBF16PS, so the two paths agree bit for bit on normal numbers.
// Packing is in gemm_bf16_pack.c.
#include "gemm_bf16_internal.h"
#include "memory_internal.h"
#include <stdlib.h>

float loft_bf16_round(float value) { return bf16_float(bf16_bits(value)); }

void loft_bf16_round_bits(const float *values, uint16_t *bits, int64_t n) {
    for (int64_t i = 0; i < n; ++i) bits[i] = (uint16_t)bf16_bits(values[i]);
}

/// The scalar micro-kernel: C[rows, cols] (+)= alpha · Σ_p pairs, beta on the existing C.
static void kernel_scalar(int64_t kp, const uint32_t *a, const uint32_t *b, float *c, int64_t ldc,
                          int rows, int cols, float alpha, float beta) {
    for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < cols; ++j) {
            float acc = 0;
            for (int64_t p = 0; p < kp; ++p) {
                uint32_t x = a[p * MR + i], y = b[p * NR + j];
                acc += bf16_float(x >> 16) * bf16_float(y >> 16);
                acc += bf16_float(x & 0xffffu) * bf16_float(y & 0xffffu);
            }
            float *out = c + i * ldc + j;
            *out = beta == 0 ? alpha * acc : alpha * acc + beta * *out;
        }
    }
}

#ifdef LOFT_BF16_X86
#include <immintrin.h>

/// The AVX512-BF16 micro-kernel: 12 rows × 32 columns, 24 accumulators.
LOFT_BF16_TARGET
static void kernel_avx512(int64_t kp, const uint32_t *a, const uint32_t *b, float *c, int64_t ldc,
                          int rows, int cols, float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
           c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00,
           cb0 = c00, cb1 = c00;
    for (int64_t p = 0; p < kp; ++p, a += MR, b += NR) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#define LOFT_ROW(i, x0, x1)                                                  \
        {                                                                    \
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);            \
            x0 = _mm512_dpbf16_ps(x0, ai, b0);                               \
            x1 = _mm512_dpbf16_ps(x1, ai, b1);                               \
        }
        LOFT_ROW(0, c00, c01) LOFT_ROW(1, c10, c11) LOFT_ROW(2, c20, c21) LOFT_ROW(3, c30, c31)
        LOFT_ROW(4, c40, c41) LOFT_ROW(5, c50, c51) LOFT_ROW(6, c60, c61) LOFT_ROW(7, c70, c71)
        LOFT_ROW(8, c80, c81) LOFT_ROW(9, c90, c91) LOFT_ROW(10, ca0, ca1) LOFT_ROW(11, cb0, cb1)
#undef LOFT_ROW
    }
    __m512 acc[2 * MR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51,
                          c60, c61, c70, c71, c80, c81, c90, c91, ca0, ca1, cb0, cb1};
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xffff : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
    for (int i = 0; i < rows; ++i) {
        float *row = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(acc[2 * i], va), r1 = _mm512_mul_ps(acc[2 * i + 1], va);
        if (beta != 0) {
            r0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, row), vb, r0);
            r1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, row + 16), vb, r1);
        }
        _mm512_mask_storeu_ps(row, m0, r0);
        _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
}
#endif

int loft_gemm_bf16_supported(void) {
#ifdef LOFT_BF16_X86
    loft_cpu_features f = loft_cpu_features_get();
    return loft_simd_active() == LOFT_SIMD_AVX512 && f.avx512bf16 && f.avx512dq && loft_bf16_kernel_allowed();
#else
    return 0;
#endif
}

/// The macro-kernel: C[rows, cols] (+)= alpha·A·B over one k range, A and B in block-local
/// layout ([panel][kp][width]) starting at row 0 / column 0 of that layout.
static void macro_kernel(int vector, int64_t kc, float alpha, const uint32_t *pa, int64_t a_rows, const uint32_t *pb,
                         float beta, float *c, int64_t ldc, int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end) {
    int64_t kp = (kc + 1) / 2;
    (void)a_rows;
    for (int64_t jc = col_begin; jc < col_end; jc += NC) {
        int64_t nc = col_end - jc < NC ? col_end - jc : NC;
        for (int64_t ic = row_begin; ic < row_end; ic += MC) {
            int64_t mc = row_end - ic < MC ? row_end - ic : MC;
            for (int64_t jr = jc; jr < jc + nc; jr += NR) {
                int cols = (int)(jc + nc - jr < NR ? jc + nc - jr : NR);
                const uint32_t *bp = pb + (jr / NR) * kp * NR;
                for (int64_t ir = ic; ir < ic + mc; ir += MR) {
                    int rows = (int)(ic + mc - ir < MR ? ic + mc - ir : MR);
                    const uint32_t *ap = pa + (ir / MR) * kp * MR;
                    float *cp = c + ir * ldc + jr;
#ifdef LOFT_BF16_X86
                    if (vector) { kernel_avx512(kp, ap, bp, cp, ldc, rows, cols, alpha, beta); continue; }
#endif
                    kernel_scalar(kp, ap, bp, cp, ldc, rows, cols, alpha, beta);
                }
            }
        }
    }
}

int loft_gemm_bf16_packed(int vector, int64_t m, int64_t n, int64_t k, float alpha, const uint32_t *pa, const uint32_t *pb,
                          float beta, float *c, int64_t ldc, int64_t row_begin, int64_t row_end,
                          int64_t col_begin, int64_t col_end) {
    if (vector && !loft_gemm_bf16_supported()) return 0;
    if (row_end > m) row_end = m;
    if (col_end > n) col_end = n;
    for (int64_t pc = 0; pc < k; pc += KC) {
        int64_t kc = k - pc < KC ? k - pc : KC;
        macro_kernel(vector, kc, alpha, loft_bf16_block_base(pa, m, MR, pc), m, loft_bf16_block_base(pb, n, NR, pc), pc == 0 ? beta : 1,
                     c, ldc, row_begin, row_end, col_begin, col_end);
    }
    return 1;
}

/// Packing buffers of this thread for whole single-threaded products, grown as needed and kept.
static _Thread_local void *packed_a, *packed_b;
static _Thread_local size_t packed_a_capacity, packed_b_capacity;

int loft_gemm_bf16_on(int vector, int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return 1;
    if (vector && !loft_gemm_bf16_supported()) return 0;
    if (k <= 0) {
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return 1;
    }
    // GotoBLAS order: a KC×NC block of B packed contiguously, then MC×KC blocks of A against it.
    uint32_t *pb = loft_reserve_aligned(&packed_b, &packed_b_capacity, 4 * (size_t)loft_bf16_panel_words(NC, KC, NR));
    uint32_t *pa = loft_reserve_aligned(&packed_a, &packed_a_capacity, 4 * (size_t)loft_bf16_panel_words(MC, KC, MR));
    if (!pa || !pb) return 0;
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC;
            const float *bblock = transB ? b + jc * ldb + pc : b + pc * ldb + jc;
            loft_bf16_pack_range(vector, bblock, ldb, !transB, nc, kc, NR, 0, (nc + NR - 1) / NR, pb);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                const float *ablock = transA ? a + pc * lda + ic : a + ic * lda + pc;
                loft_bf16_pack_range(vector, ablock, lda, transA, mc, kc, MR, 0, (mc + MR - 1) / MR, pa);
                macro_kernel(vector, kc, alpha, pa, mc, pb, pc == 0 ? beta : 1, c + ic * ldc + jc, ldc, 0, mc, 0, nc);
            }
        }
    }
    return 1;
}

int loft_bf16_panel_width(int operand) { return operand == 0 ? MR : NR; }
