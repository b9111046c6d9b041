// The SIMD path of Loft's kernels: what the CPU supports (cpuid and the OS's saved state, read
// once), capped by `loft_kernels_limit` (set once at start by the program's edge from its own
// options; the kernels read no environment), and whether the bf16 product kernel may run.
#include "CKernels.h"

int loft_simd_supported(loft_simd_path path) {
    if (path == LOFT_SIMD_SCALAR) return 1;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    loft_cpu_features f = loft_cpu_features_get();
    if (path == LOFT_SIMD_AVX2) return f.avx2 && f.fma;
    if (path == LOFT_SIMD_AVX512) return f.avx512f && f.avx512bw && f.avx512vl;
#endif
    return 0;
}

// The limits set by loft_kernels_limit (read and written atomically: set once at start, read by
// every kernel call). No limit: the best path the CPU has, the bf16 kernel allowed.
static int path_limit = LOFT_SIMD_AVX512;
static int bf16_allowed = 1;

void loft_kernels_limit(loft_simd_path max_path, int allow_bf16) {
    __atomic_store_n(&path_limit, (int)max_path, __ATOMIC_RELAXED);
    __atomic_store_n(&bf16_allowed, allow_bf16 ? 1 : 0, __ATOMIC_RELAXED);
}

int loft_bf16_kernel_allowed(void) { return __atomic_load_n(&bf16_allowed, __ATOMIC_RELAXED); }

/// The best path the CPU has (found once), capped by the limit.
loft_simd_path loft_simd_active(void) {
    static int best = -1;   // read and written atomically: threads may race to the first call
    int path = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (path < 0) {
        path = LOFT_SIMD_SCALAR;
        if (loft_simd_supported(LOFT_SIMD_AVX2)) path = LOFT_SIMD_AVX2;
        if (loft_simd_supported(LOFT_SIMD_AVX512)) path = LOFT_SIMD_AVX512;
        __atomic_store_n(&best, path, __ATOMIC_RELAXED);
    }
    int limit = __atomic_load_n(&path_limit, __ATOMIC_RELAXED);
    return (loft_simd_path)(path < limit ? path : limit);
}

