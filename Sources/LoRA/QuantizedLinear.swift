import Autograd
import Quantization

/// A frozen linear layer whose weight [out, in] is stored quantized. It has no parameters: its
/// backward only passes `dy·deq(W)` to the input.
public final class QuantizedLinear: LinearLayer {
    /// The packed weight.
    public let weight: QuantizedTensor

    /// A layer over a quantized weight [out, in].
    public init(weight: QuantizedTensor) {
        precondition(weight.shape.count == 2, "QuantizedLinear: weight must be [out, in], got \(weight.shape)")
        self.weight = weight
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor, compute: ComputeType) -> Tensor {
        x.matmul(quantized: weight, compute: compute)
    }

    public func infer(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, compute: ComputeType) {
        weight.multiply(x, rows: rows, into: y, compute: compute)
    }

    public var trainableParameters: [(name: String, tensor: Tensor)] { [] }

    public func accumulateInputGradient(
        _ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>,
        compute: ComputeType
    ) {
        weight.multiplyTransposed(accumulating: dy, rows: rows, into: dx, compute: compute)
    }
}
