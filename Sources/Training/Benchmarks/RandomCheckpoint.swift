import Autograd
import Foundation
import Llama

/// A checkpoint of random weights, made tensor by tensor on demand (for benchmarks): linears
/// uniform in ±1/√in, norms 1, embeddings uniform in ±0.02. Deterministic in the seed.
public final class RandomCheckpoint: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    let shapes: [String: [Int]]
    let seed: UInt64

    /// Random weights of `config` from `seed`.
    public init(config: LlamaConfig, seed: UInt64) {
        self.config = config
        self.seed = seed
        sourceDescription = "random weights (seed \(seed))"
        shapes = Dictionary(uniqueKeysWithValues: LlamaTensorNames.expected(for: config).map { ($0.name, $0.shape) })
    }

    public var tensorNames: [String] { shapes.keys.sorted() }
    public func shape(of name: String) -> [Int]? { shapes[name] }

    public func floats(_ name: String) throws -> [Float] {
        guard let shape = shapes[name] else { throw LlamaError.missingTensor(name: name, source: sourceDescription) }
        if name.hasSuffix("norm.weight") { return [Float](repeating: 1, count: shape.product) }
        let bound: Float = shape.count == 2 && !name.contains("embed") && !name.contains("lm_head") ? 1 / Float(shape[1]).squareRoot() : 0.02
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

/// Model shapes for benchmarks.
public enum BenchmarkPreset: String, CaseIterable, Sendable {
    case bench110m = "bench-110m"
    case llama27b = "llama2-7b"

    public var config: LlamaConfig {
        switch self {
        case .bench110m: return LlamaConfig(dim: 768, layers: 12, heads: 12, kvHeads: 12, hiddenDim: 2048, vocabularySize: 32000, maxSequenceLength: 4096)
        case .llama27b: return LlamaConfig(dim: 4096, layers: 32, heads: 32, kvHeads: 32, hiddenDim: 11008, vocabularySize: 32000, maxSequenceLength: 4096)
        }
    }
}
