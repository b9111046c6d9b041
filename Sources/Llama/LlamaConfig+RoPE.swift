import Autograd
import Foundation

/// How a checkpoint stretches RoPE past its training length: `linear` (positions divided by the
/// factor), Llama-3.1's `llama3` (low frequencies divided by the factor, high ones kept, a smooth
/// blend between), or per-frequency divisors as llama.cpp stores them (`rope_freqs.weight`).
/// reference: transformers modeling_rope_utils (_compute_linear_scaling_rope_parameters,
/// _compute_llama3_parameters); llama.cpp ggml_rope_ext (freq_factors)
public enum RopeScaling: Codable, Equatable, Sendable {
    case linear(factor: Float)
    case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Int)
    case frequencyFactors([Float])

    /// What is wrong with the values for a head size `headDim`, or nil.
    func problem(headDim: Int) -> String? {
        switch self {
        case .linear(let factor):
            return factor > 0 && factor.isFinite ? nil : "RoPE scaling factor \(factor) must be finite and > 0"
        case .llama3(let factor, let low, let high, let context):
            guard [factor, low, high].allSatisfy({ $0 > 0 && $0.isFinite }), high > low, context > 0 else {
                return "llama3 RoPE scaling needs finite factors > 0, high_freq_factor > low_freq_factor and a positive original context"
            }
            return nil
        case .frequencyFactors(let factors):
            guard factors.count == headDim / 2 else { return "\(factors.count) RoPE frequency factors for a head size of \(headDim)" }
            return factors.allSatisfy { $0 > 0 && $0.isFinite } ? nil : "RoPE frequency factors must be finite and > 0"
        }
    }
}

extension LlamaConfig {
    /// RoPE's inverse frequencies θ^(−2i/Dh), i < Dh/2, after the config's scaling (what the
    /// rotary tables are made from).
    public var ropeInverseFrequencies: [Float] {
        let base = RotaryTable.inverseFrequencies(headDim: headDim, theta: ropeTheta)
        switch ropeScaling {
        case nil: return base
        case .linear(let factor): return base.map { $0 / factor }
        case .frequencyFactors(let factors): return zip(base, factors).map { $0 / $1 }
        case .llama3(let factor, let low, let high, let context):
            let (lowWavelength, highWavelength) = (Float(context) / low, Float(context) / high)
            return base.map { frequency in
                let wavelength = 2 * Float.pi / frequency
                if wavelength < highWavelength { return frequency }
                if wavelength > lowWavelength { return frequency / factor }
                let smooth = (Float(context) / wavelength - low) / (high - low)
                return (1 - smooth) * frequency / factor + smooth * frequency
            }
        }
    }
}
