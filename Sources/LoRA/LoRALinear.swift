import Autograd
import Foundation

/// A frozen base layer plus a trainable low-rank update:
/// `y = base(x) + scaling · (drop(x)·Aᵀ)·Bᵀ` with A [R, in], B [out, R], `scaling = alpha / R`.
/// reference: peft LoraLayer (`result + lora_B(lora_A(dropout(x))) * scaling`)
public final class LoRALinear: LinearLayer {
    /// The frozen layer (fp32 or quantized).
    public let base: LinearLayer
    /// `lora_A` [R, in] and `lora_B` [out, R], trainable.
    public let loraA: Tensor, loraB: Tensor
    /// alpha, and the dropout probability on the adapter's input.
    public let alpha: Float, dropout: Float
    /// The dropout stream for the next training forward; nil evaluates without dropout.
    public var dropoutRNG: RandomState?

    /// Wraps `base` with A and B given as values.
    public init(base: LinearLayer, a: [Float], b: [Float], rank: Int, alpha: Float, dropout: Float = 0) {
        precondition(
            a.count == rank * base.inFeatures && b.count == base.outFeatures * rank,
            "LoRALinear: A \(a.count), B \(b.count) for rank \(rank), [\(base.outFeatures), \(base.inFeatures)]")
        self.base = base
        loraA = Tensor(a, shape: [rank, base.inFeatures], requiresGrad: true)
        loraB = Tensor(b, shape: [base.outFeatures, rank], requiresGrad: true)
        (self.alpha, self.dropout) = (alpha, dropout)
    }

    /// R.
    public var rank: Int { loraA.shape[0] }
    /// alpha / R.
    public var scaling: Float { alpha / Float(rank) }
    public var inFeatures: Int { base.inFeatures }
    public var outFeatures: Int { base.outFeatures }

    /// The training path: one fused tape node over a frozen base (`fusedForward`), else (a base
    /// with trainable weights) the composition of its ops.
    public func callAsFunction(_ x: Tensor, compute: ComputeType) -> Tensor {
        if base.trainableParameters.isEmpty { return fusedForward(x, compute: compute) }
        var input = x
        if dropout > 0, var rng = dropoutRNG {
            input = x.dropout(dropout, rng: &rng)
            dropoutRNG = rng
        }
        let update = input.matmul(loraA, transposeOther: true).matmul(loraB, transposeOther: true, scale: scaling)
        return base(x, compute: compute) + update
    }

    /// The training path onto a residual: one fused node whose output buffer is the new residual
    /// stream (over a frozen base), else the composition.
    public func callAsFunction(_ x: Tensor, adding residual: Tensor, compute: ComputeType) -> Tensor {
        if base.trainableParameters.isEmpty { return fusedForward(x, adding: residual, compute: compute) }
        return residual + self(x, compute: compute)
    }

    public func infer(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, compute: ComputeType) {
        base.infer(x, rows: rows, into: y, compute: compute)
        var hidden = [Float](repeating: 0, count: rows * rank)  // x·Aᵀ [rows, R]
        loraA.withValues { a in
            loraB.withValues { b in
                // Both products split across the cores when large (a forward over many rows).
                hidden.withUnsafeMutableBufferPointer { h in
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: rows, n: rank, k: inFeatures,
                        a: x, lda: inFeatures, b: a.baseAddress!, ldb: inFeatures, c: h.baseAddress!, ldc: rank)
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: rows, n: outFeatures, k: rank,
                        alpha: scaling, a: h.baseAddress!, lda: rank, b: b.baseAddress!, ldb: rank,
                        beta: 1, c: y, ldc: outFeatures)
                }
            }
        }
    }

    public var trainableParameters: [(name: String, tensor: Tensor)] { [("lora_A", loraA), ("lora_B", loraB)] }

    /// `dx += dy·(W + s·B·A)` with the adapter's current values (no dropout).
    public func accumulateInputGradient(
        _ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>,
        compute: ComputeType
    ) {
        base.accumulateInputGradient(dy, rows: rows, into: dx, compute: compute)
        var hidden = [Float](repeating: 0, count: rows * rank)  // s·dy·B [rows, R]
        loraA.withValues { a in
            loraB.withValues { b in
                hidden.withUnsafeMutableBufferPointer { h in
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: rows, n: rank, k: outFeatures, alpha: scaling, a: dy,
                        lda: outFeatures,
                        b: b.baseAddress!, ldb: rank, c: h.baseAddress!, ldc: rank)
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: rows, n: inFeatures, k: rank, a: h.baseAddress!,
                        lda: rank,
                        b: a.baseAddress!, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
                }
            }
        }
    }

    /// QLoRA/PEFT's default initialisation: A Kaiming-uniform (bound 1/√in, as
    /// `kaiming_uniform_(a=√5)`), B = 0, so the layer equals its base at step 0.
    public static func gaussianInit(
        in inFeatures: Int, out outFeatures: Int, rank: Int,
        rng: inout RandomState
    ) -> (a: [Float], b: [Float]) {
        let bound = 1 / Float(inFeatures).squareRoot()
        return (
            rng.uniform(count: rank * inFeatures, low: -bound, high: bound),
            [Float](repeating: 0, count: outFeatures * rank)
        )
    }
}
