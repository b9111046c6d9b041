// Blockwise dequantization of packed codes: out[i] = levels[code(i)] * absmax[block(i)].
// Codes are packed most-significant first (4-bit: high nibble first; 2-bit: highest pair first).
// An AVX-512 path (16 lanes, vpermps table lookup) is chosen at run time; a portable scalar
// loop is the fallback and handles every edge (odd starts, block boundaries).
#include "CKernels.h"
#include <stdint.h>

static inline int code_at(const uint8_t *codes, int64_t i, int bits) {
    int per_byte = 8 / bits;
    int shift = (per_byte - 1 - (int)(i % per_byte)) * bits;
    return (codes[i / per_byte] >> shift) & ((1 << bits) - 1);
}

static void dequantize_scalar(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                              int64_t block_size, int64_t start, int64_t count, float *out) {
    for (int64_t k = 0; k < count; ++k) {
        int64_t i = start + k;
        out[k] = levels[code_at(codes, i, bits)] * absmax[i / block_size - start / block_size];
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

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
    __builtin_memcpy(&word, bytes, 4);
    __m512i replicated = _mm512_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128((int)word),
                                                                _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)));
    __m512i shifts = _mm512_setr_epi32(6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0);
    __m512i index = _mm512_and_si512(_mm512_srlv_epi32(replicated, shifts), _mm512_set1_epi32(3));
    return _mm512_mul_ps(_mm512_permutexvar_ps(index, table), scale);
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static int dequantize_avx512(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                             int64_t block_size, int64_t start, int64_t count, float *out) {
    if ((bits != 4 && bits != 2) || block_size % 16 != 0 || start % block_size != 0 || count % 16 != 0) return 0;
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
#endif

void loft_dequantize(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                     int64_t block_size, int64_t start, int64_t count, float *out) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    static int has_avx512 = -1;
    if (has_avx512 < 0) {
        loft_cpu_features f = loft_cpu_features_get();
        has_avx512 = f.avx512f && f.avx512bw && f.avx512vl;
    }
    if (has_avx512 && dequantize_avx512(codes, bits, levels, absmax, block_size, start, count, out)) return;
#endif
    dequantize_scalar(codes, bits, levels, absmax, block_size, start, count, out);
}
