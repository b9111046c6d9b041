#include "CKernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static loft_cpu_features read_cpu_features(void) {
    loft_cpu_features f = {0};
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    int osxsave = (c >> 27) & 1;
    f.fma = (c >> 12) & 1;
    if (!osxsave) return f;
    unsigned long long xcr0 = read_xcr0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;      // SSE and AVX state saved by the OS
    int zmm_ok = (xcr0 & 0xE6) == 0xE6;    // plus opmask and ZMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    f.avx2 = ymm_ok && ((b >> 5) & 1);
    f.fma = f.fma && ymm_ok;
    if (zmm_ok) {
        f.avx512f = (b >> 16) & 1;
        f.avx512dq = (b >> 17) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vl = (b >> 31) & 1;
        unsigned int a1, b1, c1, d1;
        if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512bf16 = (a1 >> 5) & 1;
    }
    return f;
}

// cpuid traps to the hypervisor on virtual machines (microseconds a call), and the kernels ask on
// every call: read once, keep the answer (threads racing to the first call store the same value).
loft_cpu_features loft_cpu_features_get(void) {
    static loft_cpu_features cached;
    static int ready = 0;
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) return cached;
    loft_cpu_features f = read_cpu_features();
    cached = f;
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    return f;
}
#else
loft_cpu_features loft_cpu_features_get(void) {
    loft_cpu_features f = {0};
    return f;
}
#endif
