// The row loops of softmax and log-sum-exp (the fused cross-entropy over a vocabulary, attention):
// max, Σ exp(x − shift) in double with the exponentials optionally written out, and scaling.
// exp on the vector paths: `exp_internal.h` (relative error about 2 ulp).
// The scalar path uses the C library's expf. Sums of exponentials accumulate in double (an fp32
// running sum drifted 1.3e-4 in the loss at V = 49152).
#include "CKernels.h"
#include <math.h>
#include <stdint.h>

static float max_scalar(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t j = 0; j < n; ++j) m = x[j] > m ? x[j] : m;
    return m;
}

static double exp_sum_scalar(const float *x, int64_t n, float shift, float *out) {
    double total = 0;
    for (int64_t j = 0; j < n; ++j) {
        float e = expf(x[j] - shift);
        if (out) out[j] = e;
        total += e;
    }
    return total;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include "exp_internal.h"

LOFT_AVX512
static float max_avx512(const float *x, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + j));
    if (j < n) m = _mm512_mask_max_ps(m, (__mmask16)((1u << (n - j)) - 1), m, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - j)) - 1), x + j));
    return _mm512_reduce_max_ps(m);
}

LOFT_AVX512
static double exp_sum_avx512(const float *x, int64_t n, float shift, float *out) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    __m512 c = _mm512_set1_ps(shift);
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 mask = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 e = _mm512_maskz_mov_ps(mask, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + j), c)));
        if (out) _mm512_mask_storeu_ps(out + j, mask, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

LOFT_AVX2
static float max_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float result = max_scalar(lanes, 8);
    for (; j < n; ++j) result = x[j] > result ? x[j] : result;
    return result;
}

LOFT_AVX2
static double exp_sum_avx2(const float *x, int64_t n, float shift, float *out) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    __m256 c = _mm256_set1_ps(shift);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), c));
        if (out) _mm256_storeu_ps(out + j, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    return total + exp_sum_scalar(x + j, n - j, shift, out ? out + j : NULL);
}
#endif

float loft_row_max(loft_simd_path path, const float *x, int64_t n) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512 && loft_simd_supported(path)) return max_avx512(x, n);
    if (path == LOFT_SIMD_AVX2 && loft_simd_supported(path)) return max_avx2(x, n);
#endif
    (void)path;
    return max_scalar(x, n);
}

double loft_row_exp_sum(loft_simd_path path, const float *x, int64_t n, float shift, float *out) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512 && loft_simd_supported(path)) return exp_sum_avx512(x, n, shift, out);
    if (path == LOFT_SIMD_AVX2 && loft_simd_supported(path)) return exp_sum_avx2(x, n, shift, out);
#endif
    (void)path;
    return exp_sum_scalar(x, n, shift, out);
}
