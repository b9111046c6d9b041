import Autograd

/// How adapters start: LoftQ, or QLoRA's Gaussian/Kaiming init for comparison. One place decides
/// it for `loft quantize`, the run's model builder and the written adapter configs.
public enum LoRAInitialization: String, Codable, Sendable, CaseIterable {
    /// LoftQ's alternating quantization and SVD.
    case loftq
    /// QLoRA: `Q = q(W)`, A Kaiming-uniform, B = 0.
    case gaussian
    /// LoftQ as PEFT computes it: the factors of `W − deq(Q)` without the 1/√s of ours, so the
    /// adapted layer starts at `deq(Q) + s·B·A`, off by (s − 1)·B·A when alpha ≠ rank
    /// (huggingface/peft#1982). For comparisons only.
    case loftqPEFT = "loftq_peft"
    /// Continued fine-tuning: the factors of an existing PEFT adapter (`lora.adapter`), on the
    /// base quantized as QLoRA's (`Q = q(W)`) or kept fp32. `run` gives QLoRA's start, which the
    /// model builder then replaces with the adapter's tensors.
    case adapter
    /// LoftQ with the activation-weighted low-rank step (QERA's closed form inside LoftQ's
    /// alternation): needs the layer's input statistics (`ActivationWeighting`).
    case loftqAware = "loftq_aware"

    /// Whether the adapters start from LoftQ's factors (either scaling).
    public var isLoftQ: Bool { self == .loftq || self == .loftqPEFT || self == .loftqAware }

    /// Quantizes `weight` [out, in] and initialises its adapter this way. `weighting` (the
    /// layer's input statistics) is what `loftqAware` minimises with; the other starts ignore it.
    public func run(
        weight: [Float], shape: [Int], options: LoftQ.Options, weighting: ActivationWeighting? = nil,
        rng: inout RandomState
    ) throws -> LoftQ.Result {
        switch self {
        case .loftq: return try LoftQ.initialize(weight: weight, shape: shape, options: options, rng: &rng)
        case .loftqAware:
            guard let weighting else { throw LoRAInitializationError.needsCalibration }
            return try LoftQ.initialize(weight: weight, shape: shape, options: options, weighting: weighting, rng: &rng)
        case .gaussian, .adapter: return try LoftQ.gaussian(weight: weight, shape: shape, options: options, rng: &rng)
        case .loftqPEFT:
            var unscaled = options
            unscaled.alpha = Float(options.rank)  // PEFT's factors: as if s were 1
            let result = try LoftQ.initialize(weight: weight, shape: shape, options: unscaled, rng: &rng)
            let error = LoftQ.approximationError(
                weight: weight, shape: shape, quantized: result.quantized, a: result.a, b: result.b,
                rank: options.rank, scaling: options.scaling)
            return LoftQ.Result(
                quantized: result.quantized, a: result.a, b: result.b, plainError: result.plainError,
                errors: [error], bestIteration: 0)
        }
    }
}

/// A start that cannot run with what it was given.
public enum LoRAInitializationError: Error, CustomStringConvertible {
    /// `loftq_aware` without calibration statistics.
    case needsCalibration

    public var description: String {
        switch self {
        case .needsCalibration:
            return "loftq_aware needs calibration statistics (calibration data: --calibration-data, lora.calibration)"
        }
    }
}
