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

/// The packed layout of an operand (see CKernels.h): panel g of `width` rows is kp·width words,
/// word [p][w] = bf16(op(X)[g·width + w][2p]) | bf16(op(X)[g·width + w][2p + 1]) << 16, zero past
/// the edges. The scalar packer: every layout, every edge.
static void pack_scalar(const float *x, int64_t ld, int transposed, int64_t rows, int64_t k, int width,
                        int64_t panel_begin, int64_t panel_end, uint32_t *out) {
    int64_t kp = (k + 1) / 2;
    for (int64_t g = panel_begin; g < panel_end; ++g) {
        uint32_t *panel = out + g * kp * width;
        for (int w = 0; w < width; ++w) {
            int64_t r = g * width + w;
            for (int64_t p = 0; p < kp; ++p) {
                uint32_t lo = 0, hi = 0;
                if (r < rows) {
                    lo = bf16_bits(element(x, ld, transposed, r, 2 * p));
                    if (2 * p + 1 < k) hi = bf16_bits(element(x, ld, transposed, r, 2 * p + 1));
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

/// Transposes a 16×16 matrix of 32-bit words held as 16 rows.
LOFT_BF16_TARGET
static inline void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {  // u[i + c], lane l: column 4l + c of rows i…i+3
        u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int c = 0; c < 4; ++c) {
        __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44), v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[4 + c] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
        r[8 + c] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
    }
}

/// Vector packing of rows that are contiguous along k (op(A) not transposed; op(B) transposed,
/// i.e. a weight stored [N, K]): 16 rows × 32 floats become 16 rows of 16 pairs (VCVTNE2PS2BF16),
/// transposed in registers into 16 pairs of 16 rows each; `width` is 12 or 32.
LOFT_BF16_TARGET
static void pack_rows_avx512(const float *x, int64_t ld, int64_t rows, int64_t k, int width,
                             int64_t panel_begin, int64_t panel_end, uint32_t *out) {
    int64_t kp = (k + 1) / 2, full = k / 32;
    for (int64_t g = panel_begin; g < panel_end; ++g) {
        uint32_t *panel = out + g * kp * width;
        for (int s = 0; s < width; s += 16) {
            int64_t first = g * width + s;
            int count = (int)(rows - first < 16 ? (rows - first > 0 ? rows - first : 0) : 16);
            int lanes = width - s < 16 ? width - s : 16;
            __mmask16 store = lanes == 16 ? (__mmask16)0xffff : (__mmask16)((1u << lanes) - 1);
            for (int64_t q = 0; q < full; ++q) {
                __m512i v[16];
                for (int i = 0; i < 16; ++i) {
                    if (i < count) {
                        const float *row = x + (first + i) * ld + 32 * q;
                        v[i] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + 16), _mm512_loadu_ps(row));
                    } else {
                        v[i] = _mm512_setzero_si512();
                    }
                }
                transpose16(v);
                for (int e = 0; e < 16; ++e) _mm512_mask_storeu_epi32(panel + (16 * q + e) * width + s, store, v[e]);
            }
            for (int w = s; w < s + lanes; ++w) {
                int64_t r = g * width + w;
                for (int64_t p = 16 * full; p < kp; ++p) {
                    uint32_t lo = 0, hi = 0;
                    if (r < rows) {
                        lo = bf16_bits(x[r * ld + 2 * p]);
                        if (2 * p + 1 < k) hi = bf16_bits(x[r * ld + 2 * p + 1]);
                    }
                    panel[p * width + w] = lo | (hi << 16);
                }
            }
        }
    }
}

/// Vector packing of rows that are strided along k (op(B) not transposed, i.e. B stored [K, N];
/// op(A) transposed, A stored [K, M]): for each pair p, elements r of rows 2p and 2p+1 of the
/// stored matrix, converted and interleaved 16 at a time, into panels of `width` (≤ 32).
LOFT_BF16_TARGET
static void pack_columns_avx512(const float *x, int64_t ld, int64_t rows, int64_t k, int width,
                                int64_t panel_begin, int64_t panel_end, uint32_t *out) {
    int64_t kp = (k + 1) / 2;
    for (int64_t g = panel_begin; g < panel_end; ++g) {
        uint32_t *panel = out + g * kp * width;
        int64_t valid = rows - g * width < width ? rows - g * width : width;
        for (int64_t p = 0; p < kp; ++p) {
            const float *even = x + (2 * p) * ld + g * width;
            const float *odd = 2 * p + 1 < k ? even + ld : NULL;
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

int64_t loft_bf16_panel_words(int64_t rows, int64_t k, int width) {
    return (rows + width - 1) / width * width * ((k + 1) / 2);
}

/// Packs panels [panel_begin, panel_end) of one k range (one KC block, or a whole block-local
/// operand) into `out` laid out [panel][pairs of the range][width].
static void pack_range(int vector, const float *x, int64_t ld, int transposed, int64_t rows, int64_t k, int width,
                       int64_t panel_begin, int64_t panel_end, uint32_t *out) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (vector && !transposed) { pack_rows_avx512(x, ld, rows, k, width, panel_begin, panel_end, out); return; }
    if (vector) { pack_columns_avx512(x, ld, rows, k, width, panel_begin, panel_end, out); return; }
#endif
    (void)vector;
    pack_scalar(x, ld, transposed, rows, k, width, panel_begin, panel_end, out);
}

// Whole packed operands are laid out KC block by KC block: block b (k from b·KC) holds every
// panel as [panel][pairs of the block][width], so the panels one block of the product reads are
// contiguous (as a GotoBLAS packed block is) and shared by every thread.
static inline uint32_t *block_base(const uint32_t *packed, int64_t rows, int width, int64_t pc) {
    int64_t panels = (rows + width - 1) / width;
    return (uint32_t *)packed + panels * width * (pc / 2);
}

int loft_bf16_pack(int vector, int operand, const float *x, int64_t ld, int transposed, int64_t rows, int64_t k,
                   int64_t panel_begin, int64_t panel_end, uint32_t *out) {
    int width = operand == 0 ? MR : NR;
    if (vector && !loft_gemm_bf16_supported()) return 0;
    for (int64_t pc = 0; pc < k; pc += KC) {
        int64_t kc = k - pc < KC ? k - pc : KC;
        const float *start = transposed ? x + pc * ld : x + pc;
        pack_range(vector, start, ld, transposed, rows, kc, width, panel_begin, panel_end, block_base(out, rows, width, pc));
    }
    return 1;
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
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
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
        macro_kernel(vector, kc, alpha, block_base(pa, m, MR, pc), m, block_base(pb, n, NR, pc), pc == 0 ? beta : 1,
                     c, ldc, row_begin, row_end, col_begin, col_end);
    }
    return 1;
}

/// Packing buffers of this thread for whole single-threaded products, grown as needed and kept.
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
    // GotoBLAS order: a KC×NC block of B packed contiguously, then MC×KC blocks of A against it.
    uint32_t *pb = reserve(&packed_b, &packed_b_capacity, (size_t)loft_bf16_panel_words(NC, KC, NR));
    uint32_t *pa = reserve(&packed_a, &packed_a_capacity, (size_t)loft_bf16_panel_words(MC, KC, MR));
    if (!pa || !pb) return 0;
    for (int64_t jc = 0; jc < n; jc += NC) {
        int64_t nc = n - jc < NC ? n - jc : NC;
        for (int64_t pc = 0; pc < k; pc += KC) {
            int64_t kc = k - pc < KC ? k - pc : KC;
            const float *bblock = transB ? b + jc * ldb + pc : b + pc * ldb + jc;
            pack_range(vector, bblock, ldb, !transB, nc, kc, NR, 0, (nc + NR - 1) / NR, pb);
            for (int64_t ic = 0; ic < m; ic += MC) {
                int64_t mc = m - ic < MC ? m - ic : MC;
                const float *ablock = transA ? a + pc * lda + ic : a + ic * lda + pc;
                pack_range(vector, ablock, lda, transA, mc, kc, MR, 0, (mc + MR - 1) / MR, pa);
                macro_kernel(vector, kc, alpha, pa, mc, pb, pc == 0 ? beta : 1, c + ic * ldc + jc, ldc, 0, mc, 0, nc);
            }
        }
    }
    return 1;
}

int loft_bf16_panel_width(int operand) { return operand == 0 ? MR : NR; }
