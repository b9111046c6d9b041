// Helpers the SIMD kernels share (not part of the module's header): reading one packed code, the
// AVX2 16-entry table lookup and the AVX2 horizontal sum.
#pragma once
#include <stdint.h>

// The `bits`-bit code of element i, codes packed most-significant first (4-bit: high nibble
// first; 2-bit: highest pair first; 8-bit: one a byte).
static inline int loft_code_at(const uint8_t *codes, int64_t i, int bits) {
    int per_byte = 8 / bits;
    int shift = (per_byte - 1 - (int)(i % per_byte)) * bits;
    return (codes[i / per_byte] >> shift) & ((1 << bits) - 1);
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

// 8 table entries picked by the low 3 bits of `index`, from the low half of the table when bit 3
// is clear and the high half when it is set.
__attribute__((target("avx2,fma")))
static inline __m256 loft_lookup16_avx2(__m256i index, __m256 low, __m256 high) {
    __m256 from_low = _mm256_permutevar8x32_ps(low, index);
    __m256 from_high = _mm256_permutevar8x32_ps(high, index);
    return _mm256_blendv_ps(from_low, from_high, _mm256_castsi256_ps(_mm256_slli_epi32(index, 28)));
}

// The sum of the 8 lanes.
__attribute__((target("avx2,fma")))
static inline float loft_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif
