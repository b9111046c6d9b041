import Autograd
import Llama

/// A benchmark flag with a value that cannot run (each error names its flag).
public enum BenchmarkError: Error, CustomStringConvertible {
    /// `flag` has an unusable value.
    case invalidFlag(name: String, detail: String)

    public var description: String {
        switch self {
        case .invalidFlag(let name, let detail): return "\(name): \(detail)"
        }
    }
}

/// Model shapes for benchmarks.
public enum BenchmarkPreset: String, CaseIterable, Sendable {
    case bench110m = "bench-110m"
    case llama27b = "llama2-7b"

    /// The preset's shape.
    public var config: LlamaConfig {
        switch self {
        case .bench110m:
            return LlamaConfig(
                dim: 768, layers: 12, heads: 12, kvHeads: 12, hiddenDim: 2048, vocabularySize: 32000,
                maxSequenceLength: 4096)
        case .llama27b:
            return LlamaConfig(
                dim: 4096, layers: 32, heads: 32, kvHeads: 32, hiddenDim: 11008, vocabularySize: 32000,
                maxSequenceLength: 4096)
        }
    }
}

extension ModelBenchmark.Options {
    /// Options from command-line values, checked: a preset or consistent sizes, `bits` 4, 2 or
    /// `none`, and positive counts within what one machine can hold.
    public init(
        preset: String?, dim: Int, layers: Int, heads: Int, kvHeads: Int?, hidden: Int, vocab: Int, bits: String,
        rank: Int, batch: Int, sequence: Int, steps: Int, activationCheckpointing: Bool, tiedEmbeddings: Bool = false,
        computeType: String = "fp32"
    ) throws {
        var config: LlamaConfig
        if let preset {
            guard let known = BenchmarkPreset(rawValue: preset) else {
                throw BenchmarkError.invalidFlag(
                    name: "--preset", detail: "\(preset); expected bench-110m or llama2-7b")
            }
            config = known.config
        } else {
            let unchecked = LlamaConfig(
                unchecked: dim, layers: layers, heads: heads, kvHeads: kvHeads ?? heads, hiddenDim: hidden,
                vocabularySize: vocab, normEps: 1e-5, ropeTheta: 10_000, maxSequenceLength: 4096,
                tiedEmbeddings: false)
            if let problem = unchecked.validationProblem {
                throw BenchmarkError.invalidFlag(
                    name: "--dim/--layers/--heads/--kv-heads/--hidden/--vocab", detail: problem)
            }
            config = unchecked
        }
        config.tiedEmbeddings = tiedEmbeddings
        guard ["4", "2", "none"].contains(bits) else {
            throw BenchmarkError.invalidFlag(name: "--bits", detail: "\(bits); expected 4, 2 or none")
        }
        for (name, value, range) in [
            ("--rank", rank, 1...4096), ("--batch", batch, 1...4096), ("--seq", sequence, 2...1 << 20),
            ("--steps", steps, 1...10_000),
        ] where !range.contains(value) {
            throw BenchmarkError.invalidFlag(
                name: name, detail: "\(value); expected \(range.lowerBound)...\(range.upperBound)")
        }
        guard let compute = ComputeType(rawValue: computeType) else {
            throw BenchmarkError.invalidFlag(name: "--compute-dtype", detail: "\(computeType); expected fp32 or bf16")
        }
        self.init(config: config, bits: Int(bits))
        self.computeType = compute
        self.rank = rank
        self.batch = batch
        self.sequence = sequence
        self.steps = steps
        self.activationCheckpointing = activationCheckpointing
    }
}
