// y[b, o] = Σ_i x[b, i] · levels[code(o, i)] · absmax[o, i / block] for a few rows of x (decoding:
// batch 1 to 16), reading the packed codes directly. Up to 4 rows of x: each group of 16 weights
// is expanded in registers and multiplied into every row (nothing written to memory). More rows:
// each weight row is expanded once into a row-sized scratch (it stays in L1) and dotted with
// every row of x, 4 at a time (`dense_gemv.c`'s row kernels), accumulators in registers. Block
// scales are found by a running index, never a division in the loop (a 64-bit divide per block of
// 64 weights had cost 15–20% of the kernel: 30.5 → 36.4 G weights/s a core on 576 × 576).
// reference: llama.cpp ggml_vec_dot_q4_0 (dequantize-in-register dot products)
// Rows of W must hold whole blocks (in % block == 0, block % 16 == 0), 4- or 2-bit codes.
#include "CKernels.h"
#include "simd_internal.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void gemv_scalar(const uint8_t *codes, int bits, const float *levels, const float *absmax, int64_t block,
                        int64_t in, int64_t row_begin, int64_t row_end, const float *x, int64_t batch, float *y, int64_t ldy) {
    for (int64_t o = row_begin; o < row_end; ++o) {
        for (int64_t b = 0; b < batch; ++b) {
            float total = 0;
            for (int64_t i = 0; i < in; ++i) {
                int64_t e = o * in + i;
                total += x[b * in + i] * levels[loft_code_at(codes, e, bits)] * absmax[e / block];
            }
            y[b * ldy + o] = total;
        }
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// The 16 codes of elements e…e+15 as dword lanes whose low 4 bits index the level table; the
// higher bits hold neighbouring codes, which vpermps ignores (it reads bits 3:0 only). At 2 bits
// the table repeats its 4 levels, so bits 3:2 do not matter either.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline __m512i indices16(const uint8_t *codes, int64_t e, int bits) {
    if (bits == 4) {
        __m128i packed = _mm_loadl_epi64((const __m128i *)(codes + e / 2));
        return _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(_mm_srli_epi16(packed, 4), packed));
    }
    uint32_t word;
    memcpy(&word, codes + e / 4, 4);
    __m512i replicated = _mm512_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128((int)word),
                                                                _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    return _mm512_srlv_epi32(replicated, _mm512_setr_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0));
}

// One output row for `nb` (1…4, a constant after inlining) rows of x: the accumulators stay in
// registers; two per x row (even and odd groups of 16) so consecutive FMAs do not wait on each other.
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline))
static inline void row_avx512(const uint8_t *codes, int bits, __m512 table, const float *absmax, int64_t block, int64_t in,
                              int64_t o, const float *x, const int nb, float *y, int64_t ldy) {
    // Levels times x summed over a block, then scaled once by the block's absmax.
    __m512 total[4];
    for (int b = 0; b < nb; ++b) total[b] = _mm512_setzero_ps();
    const float *row_scales = absmax + o * (in / block);   // one division a row, none a block
    for (int64_t start = 0, blk = 0; start < in; start += block, ++blk) {
        int64_t e0 = o * in + start;
        __m512 even[4], odd[4];
        for (int b = 0; b < nb; ++b) even[b] = odd[b] = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 32 <= block; k += 32) {
            __m512 w0 = _mm512_permutexvar_ps(indices16(codes, e0 + k, bits), table);
            __m512 w1 = _mm512_permutexvar_ps(indices16(codes, e0 + k + 16, bits), table);
            const float *xk = x + start + k;
            for (int b = 0; b < nb; ++b) {
                even[b] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xk + b * in), even[b]);
                odd[b] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xk + b * in + 16), odd[b]);
            }
        }
        if (k < block) {   // a block of 16 · odd
            __m512 w0 = _mm512_permutexvar_ps(indices16(codes, e0 + k, bits), table);
            for (int b = 0; b < nb; ++b) even[b] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + start + k + b * in), even[b]);
        }
        const __m512 scale = _mm512_set1_ps(row_scales[blk]);
        for (int b = 0; b < nb; ++b) total[b] = _mm512_fmadd_ps(_mm512_add_ps(even[b], odd[b]), scale, total[b]);
    }
    for (int b = 0; b < nb; ++b) y[b * ldy + o] = _mm512_reduce_add_ps(total[b]);
}

// The phase-split layout of x for `lanes`-wide loads of packed bytes: in each group of
// lanes · P elements (P = 8 / bits codes a byte), phase p (the codes at bits 8 − bits·(p+1))
// of bytes 0…lanes−1 is contiguous: xs[g·lanes·P + p·lanes + j] = x[g·lanes·P + j·P + p]. Then one
// zero-extension of `lanes` bytes and P shifts give P vectors of indices, one per phase, with no
// byte shuffle (vpermps reads the low index bits only).
static void split_phases(const float *x, int64_t in, int64_t batch, int bits, int lanes, float *xs) {
    int per_byte = 8 / bits;
    int64_t group = (int64_t)lanes * per_byte;
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t g = 0; g < in; g += group)
            for (int p = 0; p < per_byte; ++p)
                for (int j = 0; j < lanes; ++j) xs[b * in + g + p * lanes + j] = x[b * in + g + (int64_t)j * per_byte + p];
}

// One output row for `nb` (1…4) rows of phase-split x (`split_phases`, 16 lanes): 16 bytes of
// codes per step, one zero-extension and P = 8 / bits permutes (4 bits: 32 weights; 2 bits: 64).
__attribute__((target("avx512f,avx512bw,avx512vl"), always_inline))
static inline void split_row_avx512(const uint8_t *codes, const int bits, __m512 table, const float *absmax, int64_t block,
                                    int64_t in, int64_t o, const float *xs, const int nb, float *y, int64_t ldy) {
    const int per_byte = 8 / bits;
    __m512 total[4];
    for (int b = 0; b < nb; ++b) total[b] = _mm512_setzero_ps();
    const float *row_scales = absmax + o * (in / block);   // one division a row, none a block
    for (int64_t start = 0, blk = 0; start < in; start += block, ++blk) {
        int64_t e0 = o * in + start;
        __m512 acc[4][4];
        for (int b = 0; b < nb; ++b) for (int p = 0; p < per_byte; ++p) acc[b][p] = _mm512_setzero_ps();
        for (int64_t k = 0; k < block; k += 16 * per_byte) {
            __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(codes + (e0 + k) / per_byte)));
            for (int p = 0; p < per_byte; ++p) {
                __m512 w = _mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 8 - bits * (p + 1)), table);
                for (int b = 0; b < nb; ++b)
                    acc[b][p] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs + b * in + start + k + p * 16), acc[b][p]);
            }
        }
        const __m512 scale = _mm512_set1_ps(row_scales[blk]);
        for (int b = 0; b < nb; ++b) {
            __m512 sum = acc[b][0];
            for (int p = 1; p < per_byte; ++p) sum = _mm512_add_ps(sum, acc[b][p]);
            total[b] = _mm512_fmadd_ps(sum, scale, total[b]);
        }
    }
    for (int b = 0; b < nb; ++b) y[b * ldy + o] = _mm512_reduce_add_ps(total[b]);
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static void gemv_avx512(const uint8_t *codes, int bits, const float *levels, const float *absmax, int64_t block,
                        int64_t in, int64_t row_begin, int64_t row_end, const float *x, int64_t batch, float *y, int64_t ldy) {
    float padded[16] = {0};
    for (int j = 0; j < 16; ++j) padded[j] = levels[j % (1 << bits)];   // repeated: see indices16
    const __m512 table = _mm512_loadu_ps(padded);
    if (batch <= 4 && block % (16 * (8 / bits)) == 0) {
        float *xs = (float *)malloc((size_t)(batch * in) * sizeof(float));
        if (xs) {
            split_phases(x, in, batch, bits, 16, xs);
            for (int64_t o = row_begin; o < row_end; ++o) {
                switch ((bits == 4 ? 10 : 20) + (int)batch) {
                case 11: split_row_avx512(codes, 4, table, absmax, block, in, o, xs, 1, y, ldy); break;
                case 12: split_row_avx512(codes, 4, table, absmax, block, in, o, xs, 2, y, ldy); break;
                case 13: split_row_avx512(codes, 4, table, absmax, block, in, o, xs, 3, y, ldy); break;
                case 14: split_row_avx512(codes, 4, table, absmax, block, in, o, xs, 4, y, ldy); break;
                case 21: split_row_avx512(codes, 2, table, absmax, block, in, o, xs, 1, y, ldy); break;
                case 22: split_row_avx512(codes, 2, table, absmax, block, in, o, xs, 2, y, ldy); break;
                case 23: split_row_avx512(codes, 2, table, absmax, block, in, o, xs, 3, y, ldy); break;
                default: split_row_avx512(codes, 2, table, absmax, block, in, o, xs, 4, y, ldy); break;
                }
            }
            free(xs);
            return;
        }
    }
    for (int64_t o = row_begin; o < row_end; ++o) {
        for (int64_t b0 = 0; b0 < batch; b0 += 4) {
            const float *xb = x + b0 * in;
            float *yb = y + b0 * ldy;
            switch (batch - b0 >= 4 ? 4 : batch - b0) {
            case 4: row_avx512(codes, bits, table, absmax, block, in, o, xb, 4, yb, ldy); break;
            case 3: row_avx512(codes, bits, table, absmax, block, in, o, xb, 3, yb, ldy); break;
            case 2: row_avx512(codes, bits, table, absmax, block, in, o, xb, 2, yb, ldy); break;
            default: row_avx512(codes, bits, table, absmax, block, in, o, xb, 1, yb, ldy); break;
            }
        }
    }
}


// The levels of elements e…e+15 as two 8-lane halves (unscaled). Index lanes keep neighbouring
// codes in their high bits: vpermps reads bits 2:0, the blend bit 3 (shifted to the sign), and at
// 2 bits the 8-entry table repeats its 4 levels (see indices16).
__attribute__((target("avx2,fma"), always_inline))
static inline void weights16_avx2(const uint8_t *codes, int bits, int64_t e, __m256 low, __m256 high, __m256 *w0, __m256 *w1) {
    if (bits == 4) {
        __m128i packed = _mm_loadl_epi64((const __m128i *)(codes + e / 2));
        __m128i nibbles = _mm_unpacklo_epi8(_mm_srli_epi16(packed, 4), packed);
        *w0 = loft_lookup16_avx2(_mm256_cvtepu8_epi32(nibbles), low, high);
        *w1 = loft_lookup16_avx2(_mm256_cvtepu8_epi32(_mm_srli_si128(nibbles, 8)), low, high);
    } else {
        uint32_t word;
        memcpy(&word, codes + e / 4, 4);
        __m128i packed = _mm_cvtsi32_si128((int)word);
        const __m256i shifts = _mm256_setr_epi32(6, 4, 2, 0, 6, 4, 2, 0);
        __m256i a = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(packed, _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1)));
        __m256i c = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(packed, _mm_setr_epi8(2, 2, 2, 2, 3, 3, 3, 3, -1, -1, -1, -1, -1, -1, -1, -1)));
        *w0 = _mm256_permutevar8x32_ps(low, _mm256_srlv_epi32(a, shifts));
        *w1 = _mm256_permutevar8x32_ps(low, _mm256_srlv_epi32(c, shifts));
    }
}

// One output row for `nb` (1…4) rows of x, accumulators in registers (see row_avx512).
__attribute__((target("avx2,fma"), always_inline))
static inline void row_avx2(const uint8_t *codes, int bits, __m256 low, __m256 high, const float *absmax, int64_t block,
                            int64_t in, int64_t o, const float *x, const int nb, float *y, int64_t ldy) {
    __m256 total[4];
    for (int b = 0; b < nb; ++b) total[b] = _mm256_setzero_ps();
    const float *row_scales = absmax + o * (in / block);   // one division a row, none a block
    for (int64_t start = 0, blk = 0; start < in; start += block, ++blk) {
        int64_t e0 = o * in + start;
        __m256 first[4], second[4];
        for (int b = 0; b < nb; ++b) first[b] = second[b] = _mm256_setzero_ps();
        for (int64_t k = 0; k < block; k += 16) {
            __m256 w0, w1;
            weights16_avx2(codes, bits, e0 + k, low, high, &w0, &w1);
            const float *xk = x + start + k;
            for (int b = 0; b < nb; ++b) {
                first[b] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xk + b * in), first[b]);
                second[b] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xk + b * in + 8), second[b]);
            }
        }
        const __m256 scale = _mm256_set1_ps(row_scales[blk]);
        for (int b = 0; b < nb; ++b) total[b] = _mm256_fmadd_ps(_mm256_add_ps(first[b], second[b]), scale, total[b]);
    }
    for (int b = 0; b < nb; ++b) y[b * ldy + o] = loft_hsum8(total[b]);
}

__attribute__((target("avx2,fma")))
static void gemv_avx2(const uint8_t *codes, int bits, const float *levels, const float *absmax, int64_t block,
                      int64_t in, int64_t row_begin, int64_t row_end, const float *x, int64_t batch, float *y, int64_t ldy) {
    float padded[16] = {0};
    for (int j = 0; j < 16; ++j) padded[j] = levels[j % (1 << bits)];   // repeated: see indices16
    const __m256 low = _mm256_loadu_ps(padded), high = _mm256_loadu_ps(padded + 8);
    for (int64_t o = row_begin; o < row_end; ++o) {
        for (int64_t b0 = 0; b0 < batch; b0 += 4) {
            const float *xb = x + b0 * in;
            float *yb = y + b0 * ldy;
            switch (batch - b0 >= 4 ? 4 : batch - b0) {
            case 4: row_avx2(codes, bits, low, high, absmax, block, in, o, xb, 4, yb, ldy); break;
            case 3: row_avx2(codes, bits, low, high, absmax, block, in, o, xb, 3, yb, ldy); break;
            case 2: row_avx2(codes, bits, low, high, absmax, block, in, o, xb, 2, yb, ldy); break;
            default: row_avx2(codes, bits, low, high, absmax, block, in, o, xb, 1, yb, ldy); break;
            }
        }
    }
}
#endif

int loft_quantized_gemv(loft_simd_path path, const uint8_t *codes, int bits, const float *levels, const float *absmax,
                        int64_t block, int64_t in, int64_t row_begin, int64_t row_end, const float *x, int64_t batch,
                        float *y, int64_t ldy) {
    if ((bits != 4 && bits != 2) || block <= 0 || block % 16 != 0 || in % block != 0 || batch < 1 || batch > 16) return 0;
    if (!loft_simd_supported(path)) return 0;
    if (batch > 4 && path != LOFT_SIMD_SCALAR) {
        // More than 4 rows of x: expand each weight row once into an L1-resident copy, then dot it
        // with every row (`dense_gemv.c`, same path).
        float *w = (float *)malloc((size_t)in * sizeof(float));
        if (w) {
            for (int64_t o = row_begin; o < row_end; ++o) {
                loft_dequantize_on(path, codes, bits, levels, absmax + o * in / block, block, o * in, in, w);
                loft_dense_gemv(path, w, in, in, 0, 1, x, in, batch, 1, 0, y + o, ldy);
            }
            free(w);
            return 1;
        }
    }
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512) { gemv_avx512(codes, bits, levels, absmax, block, in, row_begin, row_end, x, batch, y, ldy); return 1; }
    if (path == LOFT_SIMD_AVX2) { gemv_avx2(codes, bits, levels, absmax, block, in, row_begin, row_end, x, batch, y, ldy); return 1; }
#endif
    gemv_scalar(codes, bits, levels, absmax, block, in, row_begin, row_end, x, batch, y, ldy);
    return 1;
}
