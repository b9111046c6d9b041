// SwiGLU's elementwise loops, silu(a)·b with silu(a) = a·σ(a), σ(a) = 1 / (1 + exp(−a)):
// forward out = a / (1 + exp(−a)) · b; backward dA = dy·b·σ·(1 + a·(1 − σ)), dB = dy·a·σ.
// The vector paths use the kernels' exp (`exp_internal.h`, about 2 ulp) with its argument capped
// at 88 (exp(88) ≈ 1.7e38 is still finite; silu of anything below −88 is −0 to fp32 either way);
// the scalar path the C library's expf, as the Swift loop it replaces.
// reference: transformers LlamaMLP (act_fn = SiLU); PyTorch's silu_backward formula
#include "CKernels.h"
#include <math.h>
#include <stdint.h>

static void forward_scalar(const float *a, const float *b, float *out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] / (1 + expf(-a[i])) * b[i];
}

static void backward_scalar(const float *a, const float *b, const float *dy, float *da, float *db, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        float sigma = 1 / (1 + expf(-a[i]));
        da[i] = dy[i] * b[i] * sigma * (1 + a[i] * (1 - sigma));
        db[i] = dy[i] * a[i] * sigma;
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include "exp_internal.h"

LOFT_AVX512
static inline __m512 exp_negated16(__m512 a) {
    return exp16(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), _mm512_set1_ps(88.0f)));
}

LOFT_AVX512
static void forward_avx512(const float *a, const float *b, float *out, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 av = _mm512_maskz_loadu_ps(m, a + i), bv = _mm512_maskz_loadu_ps(m, b + i);
        __m512 y = _mm512_mul_ps(_mm512_div_ps(av, _mm512_add_ps(one, exp_negated16(av))), bv);
        _mm512_mask_storeu_ps(out + i, m, y);
    }
}

LOFT_AVX512
static void backward_avx512(const float *a, const float *b, const float *dy, float *da, float *db, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 av = _mm512_maskz_loadu_ps(m, a + i), bv = _mm512_maskz_loadu_ps(m, b + i), g = _mm512_maskz_loadu_ps(m, dy + i);
        __m512 sigma = _mm512_div_ps(one, _mm512_add_ps(one, exp_negated16(av)));
        __m512 slope = _mm512_fmadd_ps(av, _mm512_sub_ps(one, sigma), one);   // 1 + a·(1 − σ)
        _mm512_mask_storeu_ps(da + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(g, bv), sigma), slope));
        _mm512_mask_storeu_ps(db + i, m, _mm512_mul_ps(_mm512_mul_ps(g, av), sigma));
    }
}

LOFT_AVX2
static inline __m256 exp_negated8(__m256 a) {
    return exp8(_mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), _mm256_set1_ps(88.0f)));
}

LOFT_AVX2
static void forward_avx2(const float *a, const float *b, float *out, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(a + i), bv = _mm256_loadu_ps(b + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(av, _mm256_add_ps(one, exp_negated8(av))), bv));
    }
    forward_scalar(a + i, b + i, out + i, n - i);
}

LOFT_AVX2
static void backward_avx2(const float *a, const float *b, const float *dy, float *da, float *db, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 av = _mm256_loadu_ps(a + i), bv = _mm256_loadu_ps(b + i), g = _mm256_loadu_ps(dy + i);
        __m256 sigma = _mm256_div_ps(one, _mm256_add_ps(one, exp_negated8(av)));
        __m256 slope = _mm256_fmadd_ps(av, _mm256_sub_ps(one, sigma), one);
        _mm256_storeu_ps(da + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(g, bv), sigma), slope));
        _mm256_storeu_ps(db + i, _mm256_mul_ps(_mm256_mul_ps(g, av), sigma));
    }
    backward_scalar(a + i, b + i, dy + i, da + i, db + i, n - i);
}
#endif

void loft_swiglu_forward(loft_simd_path path, const float *gate, const float *up, float *out, int64_t n) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512 && loft_simd_supported(path)) { forward_avx512(gate, up, out, n); return; }
    if (path == LOFT_SIMD_AVX2 && loft_simd_supported(path)) { forward_avx2(gate, up, out, n); return; }
#endif
    (void)path;
    forward_scalar(gate, up, out, n);
}

void loft_swiglu_backward(loft_simd_path path, const float *gate, const float *up, const float *dy, float *dgate, float *dup,
                          int64_t n) {
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    if (path == LOFT_SIMD_AVX512 && loft_simd_supported(path)) { backward_avx512(gate, up, dy, dgate, dup, n); return; }
    if (path == LOFT_SIMD_AVX2 && loft_simd_supported(path)) { backward_avx2(gate, up, dy, dgate, dup, n); return; }
#endif
    (void)path;
    backward_scalar(gate, up, dy, dgate, dup, n);
}
