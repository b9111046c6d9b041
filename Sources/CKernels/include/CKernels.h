// Small C helpers for what Swift cannot express well: CPU feature queries (cpuid) today, SIMD
// inner loops later. Pure C, no state.
#pragma once
#include <stdbool.h>

/// CPU features relevant to BLAS kernel choice, read with cpuid.
typedef struct {
    bool avx2;
    bool fma;
    bool avx512f;
    bool avx512bw;
    bool avx512dq;
    bool avx512vl;
    bool avx512bf16;
} loft_cpu_features;

/// The features of the CPU this process runs on (all false on non-x86 machines).
loft_cpu_features loft_cpu_features_get(void);

/// Makes glibc's malloc keep freed large blocks in the heap instead of unmapping them, so a loop
/// that allocates and frees the same large buffers does not page-fault them in every time.
void loft_keep_freed_memory(void);

#include <stdint.h>

/// Dequantizes elements [start, start + count) of a blockwise-quantized tensor into `out`:
/// `out[k] = levels[code(start + k)] * absmax[block(start + k) − block(start)]`, codes of `bits`
/// bits packed most-significant first. `absmax` starts at the block of `start`.
/// Uses AVX-512 when the CPU has it and the range is block-aligned, else a scalar loop.
void loft_dequantize(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                     int64_t block_size, int64_t start, int64_t count, float *out);
