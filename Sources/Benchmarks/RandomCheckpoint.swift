import Autograd
import Foundation
import Formats
import Llama

/// A checkpoint of random weights, made tensor by tensor on demand (for benchmarks): linears
/// uniform in ±1/√in, norms 1, embeddings uniform in ±0.02. Deterministic in the seed.
public final class RandomCheckpoint: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    let seed: UInt64

    /// Random weights of `config` from `seed`.
    public init(config: LlamaConfig, seed: UInt64) {
        self.config = config
        self.seed = seed
        sourceDescription = "random weights (seed \(seed))"
    }

    /// The Hugging Face name, which also names each tensor's random stream.
    public func name(of tensor: LlamaTensor) -> String { HuggingFaceNames.name(of: tensor) }
    public func shape(of tensor: LlamaTensor) -> [Int]? {
        if case .output = tensor, config.tiedEmbeddings { return nil }
        return tensor.shape(in: config)
    }
    public var unexpectedTensorNames: [String] { [] }

    public func floats(_ tensor: LlamaTensor) throws -> [Float] {
        guard let shape = shape(of: tensor) else {
            throw LlamaError.missingTensor(name: name(of: tensor), source: sourceDescription)
        }
        let name = name(of: tensor)
        switch tensor {
        case .attentionNorm, .mlpNorm, .finalNorm: return [Float](repeating: 1, count: shape.product)
        default: break
        }
        let bound: Float = {
            if case .linear = tensor { return 1 / Float(shape[1]).squareRoot() } else { return 0.02 }
        }()
        // Fill in parallel chunks, each from its own named stream, so the values do not depend on threads.
        let count = shape.product
        let chunks = max(1, min(64, count / 65_536))
        let root = RandomState(seed: seed).split(name)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            let pointer = SendablePointer(buffer.baseAddress!)
            Parallel.forEach(chunks, costPerItem: 1 << 20) { range in
                for chunk in range {
                    var rng = root.split("chunk-\(chunk)")
                    for i in (count * chunk / chunks)..<(count * (chunk + 1) / chunks) {
                        pointer.pointer[i] = bound * (2 * rng.nextUniform() - 1)
                    }
                }
            }
            initialized = count
        }
    }
}
