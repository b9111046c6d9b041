import Llama

/// The one map between Hugging Face tensor names and the model's (`LlamaTensor`); PEFT adapter
/// keys and the quantized folder build on it.
public enum HuggingFaceNames {
    /// The HF path of a decoder linear, without `.weight`: `model.layers.{i}.self_attn.q_proj`.
    public static func modulePath(layer: Int, _ module: LinearModule) -> String {
        "model.layers.\(layer).\(module.isMLP ? "mlp" : "self_attn").\(module.rawValue)"
    }

    /// The HF name of `tensor`.
    public static func name(of tensor: LlamaTensor) -> String {
        switch tensor {
        case .embedding: return "model.embed_tokens.weight"
        case .attentionNorm(let layer): return "model.layers.\(layer).input_layernorm.weight"
        case .mlpNorm(let layer): return "model.layers.\(layer).post_attention_layernorm.weight"
        case .linear(let layer, let module): return modulePath(layer: layer, module) + ".weight"
        case .bias(let layer, let module): return modulePath(layer: layer, module) + ".bias"
        case .finalNorm: return "model.norm.weight"
        case .output: return "lm_head.weight"
        }
    }

    /// The name a checkpoint of `family` stores `tensor` under: `name(of:)`, except for a linear
    /// its family stacks with others (Phi-3's `qkv_proj`, `gate_up_proj`).
    public static func storedName(of tensor: LlamaTensor, family: ModelFamily) -> String {
        guard case .linear(let layer, let module) = tensor, let group = family.fusedGroup(of: module) else {
            return name(of: tensor)
        }
        return fusedModulePath(layer: layer, group) + ".weight"
    }

    /// The HF path of a stacked group's module, without `.weight`:
    /// `model.layers.{i}.self_attn.qkv_proj` (also where PEFT puts its adapter).
    public static func fusedModulePath(layer: Int, _ group: [LinearModule]) -> String {
        modulePath(layer: layer, group[0]).replacingOccurrences(
            of: group[0].rawValue, with: ModelFamily.fusedName(group))
    }

    /// The tensors a checkpoint of `c` stores, in order, each with the model tensors it holds
    /// (several stacked by rows for a fused group).
    public static func storedTensors(for c: LlamaConfig) -> [(name: String, parts: [LlamaTensor])] {
        FusedRows.storedTensors(for: c) { storedName(of: $0, family: c.family) }
    }

    /// Stored names that are not tensors of `config` and not tolerated extras (rotary buffers, a
    /// stored `lm_head` next to tied embeddings).
    public static func unexpected(_ names: [String], config: LlamaConfig) -> [String] {
        let known = Set(LlamaTensor.all(for: config).map { storedName(of: $0, family: config.family) })
        return names.filter { !known.contains($0) && !$0.hasSuffix("rotary_emb.inv_freq") && $0 != "lm_head.weight" }
    }
}

/// PEFT's key of a trainable tensor: `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`.
public enum PEFTNames {
    /// The key of `id`.
    public static func key(_ id: ParameterID) -> String {
        "base_model.model." + HuggingFaceNames.modulePath(layer: id.layer, id.module) + ".\(id.name).weight"
    }

    /// The key of tensor `tensor` (`lora_A`, `lora_B`) of `module` in `layer`.
    public static func key(layer: Int, module: LinearModule, tensor: String) -> String {
        key(ParameterID(layer: layer, module: module, name: tensor))
    }
}
