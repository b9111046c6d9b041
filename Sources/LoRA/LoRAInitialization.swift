import Autograd

/// How adapters start: LoftQ, or QLoRA's Gaussian/Kaiming init for comparison. One place decides
/// it for `loft quantize`, the run's model builder and the written adapter configs.
public enum LoRAInitialization: String, Codable, Sendable, CaseIterable {
    /// LoftQ's alternating quantization and SVD.
    case loftq
    /// QLoRA: `Q = q(W)`, A Kaiming-uniform, B = 0.
    case gaussian

    /// Quantizes `weight` [out, in] and initialises its adapter this way.
    public func run(weight: [Float], shape: [Int], options: LoftQ.Options, rng: inout RandomState) throws -> LoftQ.Result {
        switch self {
        case .loftq: return try LoftQ.initialize(weight: weight, shape: shape, options: options, rng: &rng)
        case .gaussian: return try LoftQ.gaussian(weight: weight, shape: shape, options: options, rng: &rng)
        }
    }
}
