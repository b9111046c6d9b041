import Autograd
import Foundation

/// How a checkpoint stretches RoPE past its training length: `linear` (positions divided by the
/// factor), Llama-3.1's `llama3` (low frequencies divided by the factor, high ones kept, a smooth
/// blend between), per-frequency divisors as llama.cpp stores them (`rope_freqs.weight`), or
/// `dynamic` NTK scaling (θ raised once a sequence passes `max_position_embeddings`, by how far).
/// reference: transformers modeling_rope_utils (_compute_linear_scaling_rope_parameters,
/// _compute_llama3_parameters, _compute_dynamic_ntk_parameters); llama.cpp ggml_rope_ext (freq_factors)
public enum RopeScaling: Codable, Equatable, Sendable {
    case linear(factor: Float)
    case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Int)
    case frequencyFactors([Float])
    /// θ' = θ·(factor·L/M − (factor − 1))^(Dh/(Dh − 2)) for a sequence of L > M positions
    /// (M = `maxSequenceLength`); plain RoPE up to M. The frequencies follow the length of the
    /// sequence being computed: one forward from position 0, or a cached decoding as it grows.
    case dynamic(factor: Float)

    /// What is wrong with the values for a head size `headDim`, or nil.
    func problem(headDim: Int) -> String? {
        switch self {
        case .linear(let factor), .dynamic(let factor):
            return factor > 0 && factor.isFinite ? nil : "RoPE scaling factor \(factor) must be finite and > 0"
        case .llama3(let factor, let low, let high, let context):
            guard [factor, low, high].allSatisfy({ $0 > 0 && $0.isFinite }), high > low, context > 0 else {
                return
                    "llama3 RoPE scaling needs finite factors > 0, high_freq_factor > low_freq_factor and a positive original context"
            }
            return nil
        case .frequencyFactors(let factors):
            guard factors.count == headDim / 2 else {
                return "\(factors.count) RoPE frequency factors for a head size of \(headDim)"
            }
            return factors.allSatisfy { $0 > 0 && $0.isFinite } ? nil : "RoPE frequency factors must be finite and > 0"
        }
    }
}

extension LlamaConfig {
    /// RoPE's inverse frequencies θ^(−2i/Dh), i < Dh/2, after the config's scaling, for sequences
    /// of up to `maxSequenceLength` positions.
    public var ropeInverseFrequencies: [Float] { ropeInverseFrequencies(length: 0) }

    /// The inverse frequencies for a sequence of `length` positions so far (what the rotary tables
    /// of a forward over positions ..< `length` are made from; only `dynamic` scaling depends on it).
    public func ropeInverseFrequencies(length: Int) -> [Float] {
        let base = RotaryTable.inverseFrequencies(headDim: headDim, theta: ropeTheta)
        switch ropeScaling {
        case nil: return base
        case .dynamic(let factor):
            guard length > maxSequenceLength, headDim > 2 else { return base }
            let stretch = Double(factor) * Double(length) / Double(maxSequenceLength) - Double(factor - 1)
            let theta = Double(ropeTheta) * pow(stretch, Double(headDim) / Double(headDim - 2))
            return RotaryTable.inverseFrequencies(headDim: headDim, theta: Float(theta))
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
