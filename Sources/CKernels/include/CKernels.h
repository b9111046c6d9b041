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

/// The CPUs this process may run on (its affinity mask: 1 per rank under `mpirun --bind-to core`),
/// or 0 when unknown.
int loft_available_cpus(void);

/// A buffer of at least `count` floats (64-byte aligned) owned by the calling thread, kept and
/// reused by its later calls (grown when a call needs more): scratch for the loops that run on
/// the worker threads, which then allocate nothing once warm, however their chunks interleave.
/// Not reentrant: a caller must not hold it across a call that asks for it again. NULL when the
/// system is out of memory.
float *loft_thread_scratch(long count);

#include <stdint.h>

/// One chunk of a parallel region: `task(context, chunk)`.
typedef void (*loft_pool_task)(void *context, int64_t chunk);

/// Runs `task` on chunks 0 ..< `chunks` on this thread and up to `workers − 1` pool threads
/// (started on first use, kept spinning briefly between regions, then sleeping), and returns when
/// all chunks have finished. Regions from several threads run one after another.
void loft_pool_run(int64_t chunks, int workers, loft_pool_task task, void *context);

/// The SIMD paths of the kernels, in increasing order.
typedef enum { LOFT_SIMD_SCALAR = 0, LOFT_SIMD_AVX2 = 1, LOFT_SIMD_AVX512 = 2 } loft_simd_path;

/// Whether this CPU can run `path` (scalar always can).
int loft_simd_supported(loft_simd_path path);

/// The path the kernels take: the best the CPU has, capped by `loft_kernels_limit`.
loft_simd_path loft_simd_active(void);

/// Caps the kernels' path at `max_path` and allows or forbids the bf16 product kernel (forbidden,
/// an AVX-512 machine runs `compute_dtype: bf16` as CPUs without AVX512-BF16 do). Process-wide:
/// called once at start by the program's edge (the CLI, the tests), before any kernel runs.
void loft_kernels_limit(loft_simd_path max_path, int allow_bf16);

/// Whether the bf16 product kernel may run (`loft_kernels_limit`).
int loft_bf16_kernel_allowed(void);

/// Dequantizes elements [start, start + count) of a blockwise-quantized tensor into `out`:
/// `out[k] = levels[code(start + k)] * absmax[block(start + k) − block(start)]`, codes of `bits`
/// bits packed most-significant first. `absmax` starts at the block of `start`.
/// Takes the active SIMD path when the range is block-aligned, else a scalar loop.
void loft_dequantize(const uint8_t *codes, int bits, const float *levels, const float *absmax,
                     int64_t block_size, int64_t start, int64_t count, float *out);

/// `loft_dequantize` on a given path (for tests and benchmarks); returns 0, writing nothing, when
/// the CPU lacks it.
int loft_dequantize_on(loft_simd_path path, const uint8_t *codes, int bits, const float *levels, const float *absmax,
                       int64_t block_size, int64_t start, int64_t count, float *out);

/// `y[b·ldy + o] = Σ_i x[b·in + i] · levels[code(o·in + i)] · absmax[(o·in + i) / block]` for
/// output rows o in [row_begin, row_end) and `batch` (1…16) rows of x, on `path`, reading the
/// packed codes directly. `absmax` holds every block of the weight. Returns 0, writing nothing,
/// when the CPU lacks `path` or unless codes are 4- or 2-bit, `block` a multiple of 16 and `in`
/// a multiple of `block`.
int loft_quantized_gemv(loft_simd_path path, const uint8_t *codes, int bits, const float *levels, const float *absmax,
                        int64_t block, int64_t in, int64_t row_begin, int64_t row_end, const float *x, int64_t batch,
                        float *y, int64_t ldy);

/// `y[b·ldy + o] = alpha · Σ_i x[b·ldx + i] · w[o·ldw + i] + beta · y[b·ldy + o]` for rows o in
/// [row_begin, row_end) of an fp32 weight and `batch` rows of x, on `path`, each weight row read
/// once (few rows of x: decoding). `beta` = 0 never reads y. Returns 0, writing nothing, when the
/// CPU lacks `path` or a count is negative.
int loft_dense_gemv(loft_simd_path path, const float *w, int64_t ldw, int64_t in, int64_t row_begin, int64_t row_end,
                    const float *x, int64_t ldx, int64_t batch, float alpha, float beta, float *y, int64_t ldy);

/// Whether the AVX512-BF16 product kernel runs here (the CPU has AVX512-BF16, the active SIMD
/// path is AVX-512, and `loft_kernels_limit` allows it).
int loft_gemm_bf16_supported(void);

/// `C = alpha·op(A)·op(B) + beta·C` (row-major; op(A) [m, k], op(B) [k, n]) with every input
/// rounded to bf16 (nearest even) and products summed in fp32, single-threaded. `vector` = 1 runs
/// the AVX512-BF16 kernel (returns 0, writing nothing, where it does not run), 0 the portable
/// scalar kernel (same packing, same summation order). Packing buffers are per thread and kept.
int loft_gemm_bf16_on(int vector, int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/// `value` rounded to the nearest bf16 (ties to even), as an fp32.
float loft_bf16_round(float value);

/// `bits[i]` = the bf16 of `values[i]` rounded as `loft_bf16_round` (its high 16 bits), i < n.
void loft_bf16_round_bits(const float *values, uint16_t *bits, int64_t n);

/// The largest of `x[0..<n]` (−∞ when n = 0) on `path` (falls back to scalar where unsupported).
float loft_row_max(loft_simd_path path, const float *x, int64_t n);

/// Σ exp(x[j] − shift) for j < n, summed in double, on `path` (falls back to scalar where
/// unsupported); when `out` is not NULL, exp(x[j] − shift) is written to out[j] (`out` may be `x`).
/// The vector paths' exp has a relative error of about 2 ulp.
double loft_row_exp_sum(loft_simd_path path, const float *x, int64_t n, float shift, float *out);

/// SwiGLU forward: `out[i] = gate[i] / (1 + exp(−gate[i])) · up[i]` for i < n, on `path` (falls
/// back to scalar where unsupported; the vector exp is within about 2 ulp of expf).
void loft_swiglu_forward(loft_simd_path path, const float *gate, const float *up, float *out, int64_t n);

/// SwiGLU backward with σ = 1 / (1 + exp(−gate)): `dgate = dy·up·σ·(1 + gate·(1 − σ))`,
/// `dup = dy·gate·σ`, i < n, on `path` (as `loft_swiglu_forward`).
void loft_swiglu_backward(loft_simd_path path, const float *gate, const float *up, const float *dy, float *dgate, float *dup,
                          int64_t n);

/// Rows per packed panel of the bf16 product: 12 for A (operand 0), 32 for B (operand 1).
int loft_bf16_panel_width(int operand);

/// Words (uint32) of a packed bf16 operand of `rows` rows (rows of op(A), or columns of op(B))
/// and depth `k`: panels of `width` rows, each [(k + 1) / 2][width] bf16 pairs.
int64_t loft_bf16_panel_words(int64_t rows, int64_t k, int width);

/// Packs panels [panel_begin, panel_end) of an operand into `out` (the whole operand's layout):
/// `operand` 0 = A, the rows of op(A) (`transposed` = transA); 1 = B, the columns of op(B)
/// (`transposed` = !transB). `x` holds `rows` × `k` values with leading dimension `ld`. Panels
/// are independent, so threads may pack disjoint ranges. Returns 0 when `vector` is asked for
/// and the AVX512-BF16 kernel does not run here.
int loft_bf16_pack(int vector, int operand, const float *x, int64_t ld, int transposed, int64_t rows, int64_t k,
                   int64_t panel_begin, int64_t panel_end, uint32_t *out);

/// `C[rows, cols] = alpha·A·B + beta·C` for rows [row_begin, row_end) and columns
/// [col_begin, col_end) (begins multiples of 12 and 32) from packed operands; threads may take
/// disjoint ranges. Returns 0 when `vector` is asked for and the kernel does not run here.
int loft_gemm_bf16_packed(int vector, int64_t m, int64_t n, int64_t k, float alpha, const uint32_t *pa, const uint32_t *pb,
                          float beta, float *c, int64_t ldc, int64_t row_begin, int64_t row_end,
                          int64_t col_begin, int64_t col_end);
