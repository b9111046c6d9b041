// Packing for the bf16 product (see gemm_bf16.c): fp32 operands into bf16 pairs, the operand
// layout of VDPBF16PS — scalar for every layout and edge, AVX-512 for rows along k (16 × 16
// in-register transposes) and for rows strided along k (convert and interleave).
#include "gemm_bf16_internal.h"

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

#ifdef LOFT_BF16_X86
#include <immintrin.h>

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
#endif

/// Packs panels [panel_begin, panel_end) of one k range (one KC block, or a whole block-local
/// operand) into `out` laid out [panel][pairs of the range][width].
void loft_bf16_pack_range(int vector, const float *x, int64_t ld, int transposed, int64_t rows, int64_t k, int width,
                       int64_t panel_begin, int64_t panel_end, uint32_t *out) {
#ifdef LOFT_BF16_X86
    if (vector && !transposed) { pack_rows_avx512(x, ld, rows, k, width, panel_begin, panel_end, out); return; }
    if (vector) { pack_columns_avx512(x, ld, rows, k, width, panel_begin, panel_end, out); return; }
#endif
    (void)vector;
    pack_scalar(x, ld, transposed, rows, k, width, panel_begin, panel_end, out);
}

int64_t loft_bf16_panel_words(int64_t rows, int64_t k, int width) {
    return (rows + width - 1) / width * width * ((k + 1) / 2);
}

int loft_bf16_pack(int vector, int operand, const float *x, int64_t ld, int transposed, int64_t rows, int64_t k,
                   int64_t panel_begin, int64_t panel_end, uint32_t *out) {
    int width = operand == 0 ? MR : NR;
    if (vector && !loft_gemm_bf16_supported()) return 0;
    for (int64_t pc = 0; pc < k; pc += KC) {
        int64_t kc = k - pc < KC ? k - pc : KC;
        const float *start = transposed ? x + pc * ld : x + pc;
        loft_bf16_pack_range(vector, start, ld, transposed, rows, kc, width, panel_begin, panel_end, loft_bf16_block_base(out, rows, width, pc));
    }
    return 1;
}
