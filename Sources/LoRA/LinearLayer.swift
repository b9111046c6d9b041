import Autograd

/// A linear map `y = x·Wᵀ` as the decoder uses it: a frozen base (fp32 or, later, quantized),
/// optionally wrapped by a LoRA adapter. Every product by the frozen weight runs in the compute
/// type it is given (`compute`); adapters and trainable weights always compute in fp32.
public protocol LinearLayer: AnyObject {
    /// Input and output widths: x [..., in] → y [..., out].
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// The training path: [..., in] → [..., out], recording gradients for trainable parts.
    func callAsFunction(_ x: Tensor, compute: ComputeType) -> Tensor
    /// The training path onto a residual: `residual + self(x)`, residual [..., out]. Layers that
    /// can write their output onto the residual in one node (no [..., out] intermediate kept until
    /// backward) implement it; the default composes the two ops.
    func callAsFunction(_ x: Tensor, adding residual: Tensor, compute: ComputeType) -> Tensor
    /// The inference path, never recording: `x` [rows, in] → [rows, out] written to `y`.
    func infer(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, compute: ComputeType)
    /// The trainable tensors, named relative to the layer (`lora_A`, `lora_B`); empty if frozen.
    var trainableParameters: [(name: String, tensor: Tensor)] { get }
    /// The input gradient of the frozen map: `dx += dy·W` for `dy` [rows, out] into `dx` [rows, in]
    /// (what a fused op over this layer sends back through it).
    func accumulateInputGradient(
        _ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>, compute: ComputeType)
}

extension LinearLayer {
    /// `residual + self(x)` as two tape nodes.
    public func callAsFunction(_ x: Tensor, adding residual: Tensor, compute: ComputeType) -> Tensor {
        residual + self(x, compute: compute)
    }

    /// The training path in fp32.
    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, compute: .fp32) }

    /// The inference path on a constant tensor: [..., in] → [..., out]. A few rows (decoding) on a
    /// layer that splits run its base and adapter in one parallel region (`SharedInputInference`,
    /// unless `shared` is false).
    public func infer(_ x: Tensor, compute: ComputeType = .fp32, shared: Bool = true) -> Tensor {
        precondition(x.shape.last == inFeatures, "linear: x \(x.shape) into \(inFeatures) → \(outFeatures)")
        let rows = x.count / inFeatures
        if shared, let split = self as? RowSplitLinear, split.splitsRows(rows) {
            return SharedInputInference.infer([self], x, compute: compute)[0]
        }
        let y = FloatBuffer(zeros: rows * outFeatures)
        x.withValues { xp in
            y.withUnsafeMutableBufferPointer {
                infer(xp.baseAddress!, rows: rows, into: $0.baseAddress!, compute: compute)
            }
        }
        return Tensor(y, shape: Array(x.shape.dropLast()) + [outFeatures])
    }
}

/// A dense fp32 linear layer with weight [out, in], frozen (a constant tensor).
public final class Linear: LinearLayer {
    /// The weight, [out, in] (the PyTorch `nn.Linear.weight` layout).
    public let weight: Tensor

    /// A layer over `weight` [out, in].
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        self.weight = weight
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// The product in fp32 whatever `compute` says (a trainable or fp32 base: round 2's behaviour).
    public func callAsFunction(_ x: Tensor, compute: ComputeType) -> Tensor { x.matmul(weight, transposeOther: true) }

    public func infer(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, compute: ComputeType) {
        weight.withValues { w in
            BLAS.sgemm(
                transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
                a: x, lda: inFeatures, b: w.baseAddress!, ldb: inFeatures, c: y, ldc: outFeatures, compute: compute)
        }
    }

    public var trainableParameters: [(name: String, tensor: Tensor)] {
        weight.requiresGrad ? [("weight", weight)] : []
    }

    public func accumulateInputGradient(
        _ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>,
        compute: ComputeType
    ) {
        weight.withValues { w in
            BLAS.sgemm(
                transposeA: false, transposeB: false, m: rows, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                b: w.baseAddress!, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures, compute: compute)
        }
    }
}
