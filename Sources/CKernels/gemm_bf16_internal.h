// Shared by the two files of the bf16 product (gemm_bf16.c: kernels and drivers;
// gemm_bf16_pack.c: packing). Not part of the CKernels module's public header.
#pragma once
#include "CKernels.h"
#include <stdint.h>
#include <string.h>

/// Micro-tile rows (A panels) and columns (B panels); k, row and column block sizes.
enum { MR = 12, NR = 32, KC = 384, MC = 144, NC = 2048 };

/// fp32 → bf16, round to nearest even; NaN stays NaN (quietened).
static inline uint32_t bf16_bits(float value) {
    uint32_t u;
    memcpy(&u, &value, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

static inline float bf16_float(uint32_t bits) {
    uint32_t u = bits << 16;
    float value;
    memcpy(&value, &u, 4);
    return value;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define LOFT_BF16_X86 1
#define LOFT_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#endif

/// Packs panels [panel_begin, panel_end) of one k range (one KC block, or a whole block-local
/// operand) into `out` laid out [panel][pairs of the range][width].
void loft_bf16_pack_range(int vector, const float *x, int64_t ld, int transposed, int64_t rows, int64_t k, int width,
                          int64_t panel_begin, int64_t panel_end, uint32_t *out);

// Whole packed operands are laid out KC block by KC block: block b (k from b·KC) holds every
// panel as [panel][pairs of the block][width], so the panels one block of the product reads are
// contiguous (as a GotoBLAS packed block is) and shared by every thread.
static inline uint32_t *loft_bf16_block_base(const uint32_t *packed, int64_t rows, int width, int64_t pc) {
    int64_t panels = (rows + width - 1) / width;
    return (uint32_t *)packed + panels * width * (pc / 2);
}
