import Foundation
import Llama
import Support

/// Hugging Face `config.json` reading and writing.
extension LlamaConfig {
    /// Reads a Hugging Face `config.json` (transformers 4: `rope_theta`; 5:
    /// `rope_parameters.rope_theta`; missing means 10000).
    public init(huggingFaceConfigAt path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError.fileNotFound(path: path) }
        let json: [String: Any]
        switch JSONText.object(data) {
        case .success(let object): json = object
        case .failure(let problem): throw FormatError.invalidConfig(path: path, key: "(file)", detail: problem.detail)
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            guard let raw = json[key], !(raw is NSNull) else {
                if let value { return value }
                throw FormatError.invalidConfig(path: path, key: key, detail: "missing")
            }
            guard let number = raw as? NSNumber, number.doubleValue == number.doubleValue.rounded() else {
                throw FormatError.invalidConfig(path: path, key: key, detail: "expected an integer, got \(raw)")
            }
            return number.intValue
        }
        func float(_ raw: Any?, key: String, default value: Float) throws -> Float {
            guard let raw, !(raw is NSNull) else { return value }
            guard let number = raw as? NSNumber else {
                throw FormatError.invalidConfig(path: path, key: key, detail: "expected a number, got \(raw)")
            }
            return number.floatValue
        }
        let type = json["model_type"] as? String ?? "llama"
        guard let family = ModelFamily(rawValue: type) else {
            let known = ModelFamily.allCases.map(\.rawValue).joined(separator: ", ")
            throw FormatError.invalidConfig(
                path: path, key: "model_type", detail: "'\(type)' is not supported; expected one of \(known)")
        }
        var theta = try float(json["rope_theta"], key: "rope_theta", default: 10_000)
        var scaling: RopeScaling? = nil
        /// `rope_scaling` (transformers 4) or `rope_parameters` (5): linear, dynamic and llama3 are read.
        func readScaling(_ entry: [String: Any], key: String) throws -> RopeScaling? {
            let type = (entry["rope_type"] ?? entry["type"]) as? String ?? "default"
            func number(_ name: String, default value: Float? = nil) throws -> Float {
                guard let raw = entry[name], !(raw is NSNull) else {
                    if let value { return value }
                    throw FormatError.invalidConfig(path: path, key: "\(key).\(name)", detail: "missing")
                }
                return try float(raw, key: "\(key).\(name)", default: 0)
            }
            switch type {
            case "default": return nil
            case "linear": return .linear(factor: try number("factor"))
            case "dynamic": return .dynamic(factor: try number("factor"))
            case "llama3":
                let context = try number("original_max_position_embeddings")
                guard context >= 1, context <= Float(1 << 24), context == context.rounded() else {
                    throw FormatError.invalidConfig(
                        path: path, key: "\(key).original_max_position_embeddings",
                        detail: "\(context); expected an integer in 1...2^24")
                }
                return .llama3(
                    factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor", default: 1),
                    highFrequencyFactor: try number("high_freq_factor", default: 4), originalContext: Int(context))
            default:
                throw FormatError.invalidConfig(
                    path: path, key: "\(key).rope_type",
                    detail: "RoPE scaling '\(type)' is not supported (linear, dynamic and llama3 are)")
            }
        }
        if let parameters = json["rope_parameters"] as? [String: Any] {
            theta = try float(parameters["rope_theta"], key: "rope_parameters.rope_theta", default: theta)
            scaling = try readScaling(parameters, key: "rope_parameters")
        }
        if let entry = json["rope_scaling"], !(entry is NSNull) {
            guard let object = entry as? [String: Any] else {
                throw FormatError.invalidConfig(
                    path: path, key: "rope_scaling", detail: "expected an object, got \(entry)")
            }
            scaling = try readScaling(object, key: "rope_scaling") ?? scaling
        }
        // What Loft's block does not compute is refused by name, never run as something else.
        if let activation = json["hidden_act"], !(activation is NSNull), activation as? String != "silu" {
            throw FormatError.invalidConfig(
                path: path, key: "hidden_act", detail: "'\(activation)' is not supported; expected 'silu' (SwiGLU)")
        }
        for key in ["attention_bias", "mlp_bias"] where (json[key] as? Bool) == true {
            throw FormatError.invalidConfig(
                path: path, key: key, detail: "biases in these projections are not supported (Qwen2's q/k/v biases are)"
            )
        }
        // transformers 5 lists each layer's attention: only full (causal) attention is computed.
        if let types = json["layer_types"] as? [Any],
            let other = types.first(where: { $0 as? String != "full_attention" })
        {
            throw FormatError.invalidConfig(
                path: path, key: "layer_types", detail: "'\(other)' layers are not supported (full_attention is)")
        }
        // Qwen2's sliding window is off in every released model; on, its layers would differ.
        if family == .qwen2, (json["use_sliding_window"] as? Bool) == true {
            throw FormatError.invalidConfig(
                path: path, key: "use_sliding_window", detail: "sliding-window attention in Qwen2 is not supported")
        }
        let heads = try int("num_attention_heads")
        let dim = try int("hidden_size")
        var config = LlamaConfig(
            unchecked: dim, layers: try int("num_hidden_layers"), heads: heads,
            kvHeads: try int("num_key_value_heads", default: heads), hiddenDim: try int("intermediate_size"),
            vocabularySize: try int("vocab_size"),
            normEps: try float(json["rms_norm_eps"], key: "rms_norm_eps", default: 1e-6), ropeTheta: theta,
            maxSequenceLength: try int("max_position_embeddings", default: 2048),
            tiedEmbeddings: (json["tie_word_embeddings"] as? Bool) ?? false)
        config.ropeScaling = scaling
        config.family = family
        if family == .phi3, let factor = (json["partial_rotary_factor"] as? NSNumber)?.doubleValue, factor != 1 {
            throw FormatError.invalidConfig(
                path: path, key: "partial_rotary_factor", detail: "\(factor) (partial RoPE) is not supported")
        }
        // Mistral and Phi-3 attend within a sliding window: a window no shorter than the context is plain
        // causal attention; a shorter one becomes the context (longer inputs are refused as
        // beyond it), so no position ever attends past the window.
        if family == .mistral || family == .phi3, let raw = json["sliding_window"], !(raw is NSNull) {
            let window = try int("sliding_window")
            guard window >= 1 else {
                throw FormatError.invalidConfig(path: path, key: "sliding_window", detail: "\(window); expected ≥ 1")
            }
            config.maxSequenceLength = min(config.maxSequenceLength, window)
            config.slidingWindow = window
        }
        if let raw = json["head_dim"], !(raw is NSNull) {
            let headDim = try int("head_dim")
            guard headDim >= 1, headDim <= 1 << 16 else {
                throw FormatError.invalidConfig(path: path, key: "head_dim", detail: "\(headDim); expected 1...65536")
            }
            if heads <= 0 || dim % heads != 0 || headDim != dim / heads { config.explicitHeadDim = headDim }
        }
        if let problem = config.validationProblem {
            throw FormatError.invalidConfig(path: path, key: "(shape)", detail: problem)
        }
        self = config
    }

    /// The Hugging Face `config.json` object for this config.
    public var huggingFaceJSON: [String: Any] {
        [
            "architectures": [family.huggingFaceArchitecture], "model_type": family.huggingFaceModelType,
            "hidden_size": dim,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
            "intermediate_size": hiddenDim, "vocab_size": vocabularySize,
            "rms_norm_eps": Double("\(normEps)") ?? Double(normEps),
            "rope_theta": Double("\(ropeTheta)") ?? Double(ropeTheta), "max_position_embeddings": maxSequenceLength,
            "tie_word_embeddings": tiedEmbeddings, "hidden_act": "silu", "head_dim": headDim,
            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
        ].merging(ropeScalingJSON) { $1 }.merging(familyJSON) { $1 }
    }

    /// What a family's transformers config adds: Qwen2's window off, Mistral's window (the
    /// context Loft ran it with).
    var familyJSON: [String: Any] {
        switch family {
        case .llama: return [:]
        case .mistral: return ["sliding_window": slidingWindow ?? NSNull()]
        // (Phi3Config's default pad id, 32000, is outside a smaller vocabulary: transformers asserts)
        case .phi3: return ["sliding_window": slidingWindow ?? NSNull(), "pad_token_id": NSNull()]
        case .qwen2: return ["use_sliding_window": false]
        }
    }

    /// `rope_scaling` as transformers writes it (none for per-frequency factors of a GGUF, which
    /// have no Hugging Face form: refused by the caller).
    var ropeScalingJSON: [String: Any] {
        switch ropeScaling {
        case .linear(let factor): return ["rope_scaling": ["rope_type": "linear", "factor": Double(factor)]]
        case .dynamic(let factor): return ["rope_scaling": ["rope_type": "dynamic", "factor": Double(factor)]]
        case .llama3(let factor, let low, let high, let context):
            return [
                "rope_scaling": [
                    "rope_type": "llama3", "factor": Double(factor), "low_freq_factor": Double(low),
                    "high_freq_factor": Double(high), "original_max_position_embeddings": context,
                ]
            ]
        case .frequencyFactors, nil: return [:]
        }
    }
}
