// Blockwise dequantization of packed codes: out[i] = levels[code(i)] * absmax[block(i)].
// Codes are packed most-significant first (4-bit: high nibble first; 2-bit: highest pair first).
// Three paths, chosen at run time: AVX-512 (16 lanes, one vpermps over the 16-level table),
// AVX2 (8 lanes, two vpermps over the halves of the table and a blend), and a portable scalar
// loop that is the fallback and handles every edge (odd starts, block boundaries, 8-bit codes).
// The path is chosen by `simd_path.c`.
#include "CKernels.h"
#include "simd_internal.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int dequantize_scalar(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                             int64_t block_size, int64_t start, int64_t count, float *out) {
    for (int64_t k = 0; k < count; ++k) {
        int64_t i = start + k;
        out[k] = levels[loft_code_at(codes, i, bits)] * absmax[i / block_size - start / block_size];
    }
    return 1;
}

/// Whether the vector paths take this call: 4- or 2-bit codes, whole 16-element groups that
/// start a block and never straddle one.
static inline int vector_shape(int bits, int64_t block_size, int64_t start, int64_t count) {
    return (bits == 4 || bits == 2) && block_size % 16 == 0 && start % block_size == 0 && count % 16 == 0;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// MARK: AVX-512

// 16 elements from 8 bytes of 4-bit codes: byte j holds elements 2j (high) and 2j+1 (low).
__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline __m512 nf4_16(const uint8_t *bytes, __m512 table, __m512 scale) {
    __m128i packed = _mm_loadl_epi64((const __m128i *)bytes);
    __m512i wide = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(_mm_srli_epi16(packed, 4), packed));
    __m512i index = _mm512_and_si512(wide, _mm512_set1_epi32(15));
    return _mm512_mul_ps(_mm512_permutexvar_ps(index, table), scale);
}

// 16 elements from 4 bytes of 2-bit codes: byte j holds elements 4j..4j+3, highest pair first.
__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline __m512 nf2_16(const uint8_t *bytes, __m512 table, __m512 scale) {
    uint32_t word;
    memcpy(&word, bytes, 4);
    __m512i replicated = _mm512_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128((int)word),
                                                                _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    __m512i shifts = _mm512_setr_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
    __m512i index = _mm512_and_si512(_mm512_srlv_epi32(replicated, shifts), _mm512_set1_epi32(3));
    return _mm512_mul_ps(_mm512_permutexvar_ps(index, table), scale);
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static int dequantize_avx512(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                             int64_t block_size, int64_t start, int64_t count, float *out) {
    if (!vector_shape(bits, block_size, start, count)) return 0;
    float padded[16] = {0};
    for (int j = 0; j < (1 << bits); ++j) padded[j] = levels[j];
    __m512 table = _mm512_loadu_ps(padded);
    for (int64_t k = 0; k < count; k += 16) {
        int64_t i = start + k;
        __m512 scale = _mm512_set1_ps(absmax[i / block_size - start / block_size]);
        __m512 v = bits == 4 ? nf4_16(codes + i / 2, table, scale) : nf2_16(codes + i / 4, table, scale);
        _mm512_storeu_ps(out + k, v);
    }
    return 1;
}

// MARK: AVX2

__attribute__((target("avx2,fma")))
static int dequantize_avx2(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                           int64_t block_size, int64_t start, int64_t count, float *out) {
    if (!vector_shape(bits, block_size, start, count)) return 0;
    float padded[16] = {0};
    for (int j = 0; j < (1 << bits); ++j) padded[j] = levels[j];
    __m256 low = _mm256_loadu_ps(padded), high = _mm256_loadu_ps(padded + 8);
    const __m256i fifteen = _mm256_set1_epi32(15), three = _mm256_set1_epi32(3);
    const __m256i shifts = _mm256_setr_epi32(6, 4, 2, 0, 6, 4, 2, 0);
    const __m128i spread_lo = _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i spread_hi = _mm_setr_epi8(2, 2, 2, 2, 3, 3, 3, 3, -1, -1, -1, -1, -1, -1, -1, -1);
    for (int64_t k = 0; k < count; k += 16) {
        int64_t i = start + k;
        __m256 scale = _mm256_set1_ps(absmax[i / block_size - start / block_size]);
        __m256 first, second;
        if (bits == 4) {
            // 8 bytes → 16 nibbles in element order (high nibble first), widened 8 at a time.
            __m128i packed = _mm_loadl_epi64((const __m128i *)(codes + i / 2));
            __m128i nibbles = _mm_unpacklo_epi8(_mm_srli_epi16(packed, 4), packed);
            __m256i a = _mm256_and_si256(_mm256_cvtepu8_epi32(nibbles), fifteen);
            __m256i b = _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_srli_si128(nibbles, 8)), fifteen);
            first = loft_lookup16_avx2(a, low, high);
            second = loft_lookup16_avx2(b, low, high);
        } else {
            // 4 bytes → 16 pairs: each byte spread over four lanes, shifted, masked.
            uint32_t word;
            memcpy(&word, codes + i / 4, 4);
            __m128i packed = _mm_cvtsi32_si128((int)word);
            __m256i a = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(packed, spread_lo));
            __m256i b = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(packed, spread_hi));
            first = _mm256_permutevar8x32_ps(low, _mm256_and_si256(_mm256_srlv_epi32(a, shifts), three));
            second = _mm256_permutevar8x32_ps(low, _mm256_and_si256(_mm256_srlv_epi32(b, shifts), three));
        }
        _mm256_storeu_ps(out + k, _mm256_mul_ps(first, scale));
        _mm256_storeu_ps(out + k + 8, _mm256_mul_ps(second, scale));
    }
    return 1;
}
#endif

// MARK: Entry points

int loft_dequantize_on(loft_simd_path path, const uint8_t *codes, int bits, const float *levels, const float *absmax,
                       int64_t block_size, int64_t start, int64_t count, float *out) {
    if (!loft_simd_supported(path)) return 0;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512 && dequantize_avx512(codes, bits, levels, absmax, block_size, start, count, out)) return 1;
    if (path == LOFT_SIMD_AVX2 && dequantize_avx2(codes, bits, levels, absmax, block_size, start, count, out)) return 1;
#endif
    return dequantize_scalar(codes, bits, levels, absmax, block_size, start, count, out);
}

void loft_dequantize(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                     int64_t block_size, int64_t start, int64_t count, float *out) {
    loft_dequantize_on(loft_simd_active(), codes, bits, levels, absmax, block_size, start, count, out);
}
