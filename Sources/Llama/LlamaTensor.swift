/// The seven linear modules of a decoder layer, named as Hugging Face and PEFT name them (these
/// names are also the `lora.target_modules` vocabulary).
public enum LinearModule: String, CaseIterable, Codable, Sendable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// Whether the module belongs to the MLP (else to attention).
    public var isMLP: Bool { self == .gate || self == .up || self == .down }

    /// [out, in] of the module's weight.
    public func shape(in c: LlamaConfig) -> [Int] {
        switch self {
        case .q: return [c.qDim, c.dim]
        case .o: return [c.dim, c.qDim]
        case .k, .v: return [c.kvDim, c.dim]
        case .gate, .up: return [c.hiddenDim, c.dim]
        case .down: return [c.dim, c.hiddenDim]
        }
    }
}

extension LinearModule {
    /// The rows of this module's weight inside the stacked tensor of `group` ([Σ out, in]).
    public func rows(in group: [LinearModule], config c: LlamaConfig) -> Range<Int> {
        var start = 0
        for module in group {
            let rows = module.shape(in: c)[0]
            if module == self { return start..<(start + rows) }
            start += rows
        }
        return start..<start
    }
}

/// A tensor of the decoder, named the model's way. Every file format maps its own names onto
/// these, once (`HuggingFaceNames`, the llama2.c layout, GGUF's `blk.*` names).
public enum LlamaTensor: Hashable, Sendable, CustomStringConvertible {
    /// The token embedding [V, D].
    case embedding
    /// The RMSNorm weights [D] before attention and before the MLP of a layer.
    case attentionNorm(layer: Int), mlpNorm(layer: Int)
    /// A decoder linear's weight [out, in].
    case linear(layer: Int, LinearModule)
    /// A decoder linear's bias [out] (Qwen2's q, k and v projections).
    case bias(layer: Int, LinearModule)
    /// The final RMSNorm weight [D].
    case finalNorm
    /// The output projection [V, D] (absent when tied to the embedding).
    case output

    /// The shape the config implies.
    public func shape(in c: LlamaConfig) -> [Int] {
        switch self {
        case .embedding, .output: return [c.vocabularySize, c.dim]
        case .attentionNorm, .mlpNorm, .finalNorm: return [c.dim]
        case .linear(_, let module): return module.shape(in: c)
        case .bias(_, let module): return [module.shape(in: c)[0]]
        }
    }

    /// Every tensor a checkpoint of `c` holds, in checkpoint order (`output` only when untied).
    public static func all(for c: LlamaConfig) -> [LlamaTensor] {
        var tensors: [LlamaTensor] = [.embedding]
        for layer in 0..<c.layers {
            tensors += [.attentionNorm(layer: layer), .mlpNorm(layer: layer)]
            tensors += LinearModule.allCases.map { .linear(layer: layer, $0) }
            tensors += c.family.biasedModules.map { .bias(layer: layer, $0) }
        }
        tensors.append(.finalNorm)
        if !c.tiedEmbeddings { tensors.append(.output) }
        return tensors
    }

    public var description: String {
        switch self {
        case .embedding: return "embedding"
        case .attentionNorm(let layer): return "layers.\(layer).attention_norm"
        case .mlpNorm(let layer): return "layers.\(layer).mlp_norm"
        case .linear(let layer, let module): return "layers.\(layer).\(module.rawValue)"
        case .bias(let layer, let module): return "layers.\(layer).\(module.rawValue).bias"
        case .finalNorm: return "final_norm"
        case .output: return "output"
        }
    }
}

/// A trainable tensor of the model: layer, module, and its name in the layer (`lora_A`, `lora_B`).
public struct ParameterID: Hashable, Sendable {
    /// The decoder layer and linear module the tensor belongs to.
    public let layer: Int, module: LinearModule
    /// The tensor's name relative to its layer.
    public let name: String

    /// An id from its parts.
    public init(layer: Int, module: LinearModule, name: String) {
        (self.layer, self.module, self.name) = (layer, module, name)
    }
}
