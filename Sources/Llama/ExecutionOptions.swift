import Autograd

/// How a model computes a call: chosen once at the edge (the CLI's flags and environment, a run
/// config, a test) and handed to the model's `loss`, `logits` and decoding, which pass it down to
/// every block, layer and op. Nothing below reads it from anywhere else.
public struct ExecutionOptions: Equatable, Sendable {
    /// The compute type of the products by frozen weights (the base, the output projection in
    /// training, attention): `fp32`, or `bf16` where the CPU's kernel runs (else fp32 again).
    public var compute: ComputeType
    /// Whether decoding runs the layers that read one input (q, k, v; gate, up) in one parallel
    /// region (`SharedInputInference`); false runs each on its own (to compare the two).
    public var sharedInference: Bool

    /// Options from their values (by default fp32, shared inference on).
    public init(compute: ComputeType = .fp32, sharedInference: Bool = true) {
        (self.compute, self.sharedInference) = (compute, sharedInference)
    }

    /// fp32 products, shared inference on.
    public static let fp32 = ExecutionOptions()
}
