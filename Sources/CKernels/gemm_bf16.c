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
#include "CKernels.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MR = 12, NR = 32, KC = 384, MC = 144, NC = 2048 };

/// fp32 → bf16, round to nearest even; NaN stays NaN (quietened).
static inline uint32_t bf16_bits(float value) {
    uint32_t u;
    memcpy(&u, &value, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

static inline float bf16_float(uint32_t bits) {
    uint32_t u = bits << 16;
    float value;
    memcpy(&value, &u, 4);
    return value;
}

float loft_bf16_round(float value) { return bf16_float(bf16_bits(value)); }

/// op(X)[r][k] for a matrix stored row-major with leading dimension `ld` (transposed: X[k][r]).
static inline float element(const float *x, int64_t ld, int transposed, int64_t r, int64_t k) {
    return transposed ? x[k * ld + r] : x[r * ld + k];
}

/// Packs rows [r0, r0 + rows) and k in [k0, k0 + kc) of op(X) into groups of `width` rows:
/// out[group][p][r] = bf16(op(X)[r][k0 + 2p]) | bf16(op(X)[r][k0 + 2p + 1]) << 16, zero past the
/// edges. Used for A (width MR, rows of op(A)) and for B (width NR, columns of op(B) = rows of
/// op(B)ᵀ). The scalar packer: every layout, every edge.
static void pack_scalar(const float *x, int64_t ld, int transposed, int64_t r0, int64_t rows,
                        int64_t k0, int64_t kc, int width, uint32_t *out) {
    int64_t kp = (kc + 1) / 2;
    for (int64_t g = 0; g < rows; g += width) {
        uint32_t *panel = out + (g / width) * kp * width;
        for (int w = 0; w < width; ++w) {
            int64_t r = g + w;
            for (int64_t p = 0; p < kp; ++p) {
                uint32_t lo = 0, hi = 0;
                if (r < rows) {
                    lo = bf16_bits(element(x, ld, transposed, r0 + r, k0 + 2 * p));
                    if (2 * p + 1 < kc) hi = bf16_bits(element(x, ld, transposed, r0 + r, k0 + 2 * p + 1));
                }
                panel[p * width + w] = lo | (hi << 16);
            }
        }
    }
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

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define LOFT_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/// Vector packing of rows that are contiguous along k (op(A) not transposed; op(B) transposed,
/// i.e. a weight stored [N, K]): 32 floats of a row become 16 pairs with one VCVTNE2PS2BF16.
LOFT_BF16_TARGET
static void pack_rows_avx512(const float *x, int64_t ld, int64_t r0, int64_t rows, int64_t k0, int64_t kc,
                             int width, uint32_t *out) {
    int64_t kp = (kc + 1) / 2, full = kc / 32;
    uint32_t pairs[16];
    for (int64_t g = 0; g < rows; g += width) {
        uint32_t *panel = out + (g / width) * kp * width;
        for (int w = 0; w < width; ++w) {
            int64_t r = g + w;
            if (r >= rows) {
                for (int64_t p = 0; p < kp; ++p) panel[p * width + w] = 0;
                continue;
            }
            const float *row = x + (r0 + r) * ld + k0;
            for (int64_t q = 0; q < full; ++q) {
                __m512 lo = _mm512_loadu_ps(row + 32 * q), hi = _mm512_loadu_ps(row + 32 * q + 16);
                _mm512_storeu_si512(pairs, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
                uint32_t *dst = panel + 16 * q * width + w;
                for (int e = 0; e < 16; ++e) dst[e * width] = pairs[e];
            }
            for (int64_t p = 16 * full; p < kp; ++p) {
                uint32_t lo = bf16_bits(row[2 * p]), hi = 2 * p + 1 < kc ? bf16_bits(row[2 * p + 1]) : 0;
                panel[p * width + w] = lo | (hi << 16);
            }
        }
    }
}

/// Vector packing of rows that are strided along k (op(B) not transposed, i.e. B stored [K, N];
/// op(A) transposed, A stored [K, M]): for each pair p, elements r of rows k and k+1 of the
/// stored matrix, converted and interleaved 16 at a time, into groups of `width` (≤ 32).
LOFT_BF16_TARGET
static void pack_columns_avx512(const float *x, int64_t ld, int64_t j0, int64_t cols, int64_t k0, int64_t kc,
                                int width, uint32_t *out) {
    int64_t kp = (kc + 1) / 2;
    for (int64_t g = 0; g < cols; g += width) {
        uint32_t *panel = out + (g / width) * kp * width;
        int64_t valid = cols - g < width ? cols - g : width;
        for (int64_t p = 0; p < kp; ++p) {
            const float *even = x + (k0 + 2 * p) * ld + j0 + g;
            const float *odd = 2 * p + 1 < kc ? even + ld : NULL;
            uint32_t *dst = panel + p * width;
            for (int h = 0; h < width; h += 16) {
                int64_t n = valid - h, room = width - h;
                __mmask16 load = n >= 16 ? (__mmask16)0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
                __mmask16 store = room >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << room) - 1);
                __m512 e = _mm512_maskz_loadu_ps(load, even + h);
                __m512 o = odd ? _mm512_maskz_loadu_ps(load, odd + h) : _mm512_setzero_ps();
                __m256i eb = (__m256i)_mm512_cvtneps_pbh(e), ob = (__m256i)_mm512_cvtneps_pbh(o);
                __m256i lo = _mm256_unpacklo_epi16(eb, ob), hi = _mm256_unpackhi_epi16(eb, ob);
                __m512i pairs = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(lo, hi, 0x20)),
                                                   _mm256_permute2x128_si256(lo, hi, 0x31), 1);
                _mm512_mask_storeu_epi32(dst + h, store, pairs);
            }
        }
    }
}

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
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    loft_cpu_features f = loft_cpu_features_get();
    return loft_simd_active() == LOFT_SIMD_AVX512 && f.avx512bf16 && f.avx512dq;
#else
    return 0;
#endif
}

/// Packing buffers of this thread, grown as needed and kept (the products repeat every step).
static _Thread_local uint32_t *packed_a, *packed_b;
static _Thread_local size_t packed_a_capacity, packed_b_capacity;

static uint32_t *reserve(uint32_t **buffer, size_t *capacity, size_t words) {
    if (words > *capacity) {
        free(*buffer);
        *buffer = aligned_alloc(64, ((words * 4 + 63) / 64) * 64);
        *capacity = *buffer ? words : 0;
    }
    return *buffer;
}

int loft_gemm_bf16_on(int vector, int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return 1;
    if (vector && !loft_gemm_bf16_supported()) return 0;
    if (k <= 0) {
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return 1;
    }
    uint32_t *pb = reserve(&packed_b, &packed_b_capacity, (size_t)(KC / 2) * (NC + NR));
    uint32_t *pa = reserve(&packed_a, &packed_a_capacity, (size_t)(KC / 2) * (MC + MR));
    if (!pb || !pa) return 0;
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC, kp = (kc + 1) / 2;
            float beta_block = pc == 0 ? beta : 1;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
            if (vector && transB) pack_rows_avx512(b, ldb, jc, nc, pc, kc, NR, pb);
            else if (vector) pack_columns_avx512(b, ldb, jc, nc, pc, kc, NR, pb);
            else
#endif
                pack_scalar(b, ldb, !transB, jc, nc, pc, kc, NR, pb);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
                if (vector && !transA) pack_rows_avx512(a, lda, ic, mc, pc, kc, MR, pa);
                else if (vector) pack_columns_avx512(a, lda, ic, mc, pc, kc, MR, pa);
                else
#endif
                    pack_scalar(a, lda, transA, ic, mc, pc, kc, MR, pa);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int cols = (int)(nc - jr < NR ? nc - jr : NR);
                    const uint32_t *bp = pb + (jr / NR) * kp * NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int rows = (int)(mc - ir < MR ? mc - ir : MR);
                        const uint32_t *ap = pa + (ir / MR) * kp * MR;
                        float *cp = c + (ic + ir) * ldc + jc + jr;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
                        if (vector) { kernel_avx512(kp, ap, bp, cp, ldc, rows, cols, alpha, beta_block); continue; }
#endif
                        kernel_scalar(kp, ap, bp, cp, ldc, rows, cols, alpha, beta_block);
                    }
                }
            }
        }
    }
    return 1;
}
