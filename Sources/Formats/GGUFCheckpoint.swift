import Foundation
import Llama

/// A llama.cpp GGUF file of a Llama-family model (architecture `llama`: Llama, Mistral; or
/// `qwen2`) as a checkpoint: `ARCH.*` metadata → the config, `blk.{i}.*` names → the model's,
/// every tensor dequantized to fp32 when read, and in a `llama` file the `attn_q`/`attn_k` rows
/// (stored for ggml's interleaved RoPE) un-permuted to `rotate_half`.
/// Embeddings are tied when there is no `output.weight`.
/// reference: llama.cpp convert_hf_to_gguf.py (LlamaModel: names, permute), gguf-py constants (keys)
public final class GGUFCheckpoint: CheckpointSource {
    /// The stacked tensor whose members are being read (Phi-3's), read once.
    private let stacked = StackedTensorCache()
    public let config: LlamaConfig
    public let sourceDescription: String
    /// The parsed file (metadata for the tokenizer, too).
    public let file: GGUFFile

    /// Opens and checks `path`: architecture, config, and the type of every tensor the model reads.
    public init(path: String) throws {
        file = try GGUFFile(path: path)
        sourceDescription = path
        let m = file.metadata
        guard let architecture = m["general.architecture"]?.string else {
            throw FormatError.invalidGGUF(path: path, field: "general.architecture", detail: "missing")
        }
        guard let family = ModelFamily.allCases.first(where: { $0.ggufArchitecture == architecture }) else {
            throw FormatError.unsupported(
                path: path, detail: "general.architecture '\(architecture)' (llama and qwen2 are read)")
        }
        let prefix = architecture + "."
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let raw = m[key] else {
                if let value { return value }
                throw FormatError.invalidGGUF(path: path, field: key, detail: "missing")
            }
            guard let number = raw.int else {
                throw FormatError.invalidGGUF(path: path, field: key, detail: "expected an integer, got \(raw)")
            }
            return number
        }
        func float(_ key: String, default value: Double) throws -> Float {
            guard let raw = m[key] else { return Float(value) }
            guard let number = raw.double else {
                throw FormatError.invalidGGUF(path: path, field: key, detail: "expected a number, got \(raw)")
            }
            return Float(number)
        }
        var ropeScaling: RopeScaling? = nil
        if let scaling = m[prefix + "rope.scaling.type"]?.string, scaling != "none" {
            guard scaling == "linear" else {
                throw FormatError.unsupported(
                    path: path, detail: "\(prefix)rope.scaling.type '\(scaling)' (none and linear are read)")
            }
            ropeScaling = .linear(factor: try float(prefix + "rope.scaling.factor", default: 1))
        }
        if file.tensors["rope_freqs.weight"] != nil {  // llama.cpp's per-frequency divisors (Llama-3.1's scaling)
            guard ropeScaling == nil else {
                throw FormatError.invalidGGUF(
                    path: path, field: "rope_freqs.weight", detail: "given with \(prefix)rope.scaling.type linear")
            }
            ropeScaling = .frequencyFactors(try file.floats("rope_freqs.weight"))
        }
        let heads = try int(prefix + "attention.head_count")
        let dim = try int(prefix + "embedding_length")
        let vocabulary = try int(
            prefix + "vocab_size",
            default: m["tokenizer.ggml.tokens"]?.array?.count
                ?? file.tensors["token_embd.weight"]?.shape.first ?? 0)
        var config = LlamaConfig(
            unchecked: dim, layers: try int(prefix + "block_count"), heads: heads,
            kvHeads: try int(prefix + "attention.head_count_kv", default: heads),
            hiddenDim: try int(prefix + "feed_forward_length"), vocabularySize: vocabulary,
            normEps: try float(prefix + "attention.layer_norm_rms_epsilon", default: 1e-5),
            ropeTheta: try float(prefix + "rope.freq_base", default: 10_000),
            maxSequenceLength: try int(prefix + "context_length", default: 2048),
            tiedEmbeddings: file.tensors["output.weight"] == nil)
        config.ropeScaling = ropeScaling
        if let keyLength = m[prefix + "attention.key_length"]?.int, heads > 0,
            keyLength != dim / heads || dim % heads != 0
        {
            guard m[prefix + "attention.value_length"]?.int ?? keyLength == keyLength else {
                throw FormatError.unsupported(
                    path: path, detail: "\(prefix)attention.value_length differs from key_length")
            }
            config.explicitHeadDim = keyLength
        }
        if let problem = config.validationProblem {
            throw FormatError.invalidGGUF(path: path, field: prefix + "*", detail: problem)
        }
        if let ropeDims = m[prefix + "rope.dimension_count"]?.int, ropeDims != config.headDim {
            throw FormatError.unsupported(
                path: path,
                detail: "\(prefix)rope.dimension_count \(ropeDims) (partial RoPE; head size is \(config.headDim))")
        }
        config.family = family
        self.config = config
    }

    /// GGUF's name of `tensor` (`blk.{i}.attn_q.weight`, ...).
    public func name(of tensor: LlamaTensor) -> String { GGUFNames.storedName(of: tensor, family: config.family) }

    public func shape(of tensor: LlamaTensor) -> [Int]? {
        guard let stored = file.tensors[name(of: tensor)]?.shape else { return nil }
        return FusedRows.shape(of: tensor, stored: stored, config: config)
    }

    public func floats(_ tensor: LlamaTensor) throws -> [Float] {
        let name = name(of: tensor)
        guard file.tensors[name] != nil else { throw LlamaError.missingTensor(name: name, source: sourceDescription) }
        let stored = try stacked.values(of: tensor, named: name, config: config) { try file.floats(name) }
        let values = FusedRows.slice(stored, of: tensor, config: config)
        // llama.cpp stores Llama's q and k rows for interleaved RoPE; Qwen2's (NeoX RoPE) as they are.
        guard config.family.ggufArchitecture == "llama" else { return values }
        switch tensor {
        case .linear(_, .q):
            return interleavedToRotateHalf(values, heads: config.heads, headDim: config.headDim, columns: config.dim)
        case .linear(_, .k):
            return interleavedToRotateHalf(values, heads: config.kvHeads, headDim: config.headDim, columns: config.dim)
        default: return values
        }
    }

    /// Tensors no model tensor maps to, except RoPE frequency tables llama.cpp may store.
    public var unexpectedTensorNames: [String] {
        let known = Set(GGUFNames.storedTensors(for: config).map(\.name))
        return file.tensorOrder.filter { !known.contains($0) && $0 != "rope_freqs.weight" }
    }
}
