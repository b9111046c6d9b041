import CKernels

/// The arithmetic of the products that may run in lower precision: activations times frozen
/// weights (the quantized or fp32 base, the frozen output projection), forward and backward.
/// Trainable parameters, their gradients, the optimizer and every reduction stay fp32.
/// Reference: PyTorch's `torch.autocast(device_type="cpu", dtype=torch.bfloat16)`.
public enum ComputeType: String, Codable, Sendable, CaseIterable {
    /// fp32 inputs, fp32 products (OpenBLAS sgemm).
    case fp32
    /// Inputs rounded to bf16 (nearest even), products summed in fp32 (VDPBF16PS), where the CPU
    /// has AVX512-BF16; elsewhere fp32, since emulating it would only be slower.
    case bf16
}

extension BLAS {
    /// Whether this CPU runs the bf16 product kernel (AVX512-BF16, and `LOFT_SIMD` not capping
    /// the kernels below AVX-512).
    public static var bf16KernelAvailable: Bool { loft_gemm_bf16_supported() != 0 }

    /// The compute type products asked to run in `type` actually get here: bf16 only where the
    /// kernel runs, else fp32.
    public static func effective(_ type: ComputeType) -> ComputeType { usesBF16Kernel(type) ? .bf16 : .fp32 }

    /// Whether products asked to run in `type` go through the bf16 kernel.
    @inline(__always)
    static func usesBF16Kernel(_ type: ComputeType) -> Bool { type == .bf16 && bf16KernelAvailable }

    /// `C = alpha·op(A)·op(B) + beta·C` with bf16 inputs and fp32 sums on one thread, on the
    /// AVX512-BF16 kernel (`vector`) or the portable scalar one (for tests: both must agree).
    /// False, writing nothing, when the vector kernel does not run on this CPU.
    @discardableResult
    public static func bf16gemm(
        vector: Bool, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        loft_gemm_bf16_on(
            vector ? 1 : 0, transposeA ? 1 : 0, transposeB ? 1 : 0, Int64(m), Int64(n), Int64(k),
            alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc)) != 0
    }

    /// `value` rounded to the nearest bf16 (ties to even), as an fp32.
    public static func bf16Rounded(_ value: Float) -> Float { loft_bf16_round(value) }
}
