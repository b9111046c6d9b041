import Llama

/// GGUF's tensor names for a Llama model (`token_embd.weight`, `blk.{i}.attn_q.weight`, ...):
/// what `GGUFCheckpoint` reads and `GGUFWriter` writes (llama.cpp's `LLM_TENSOR_NAMES`).
enum GGUFNames {
    /// The GGUF name of `tensor`.
    static func name(of tensor: LlamaTensor) -> String {
        switch tensor {
        case .embedding: return "token_embd.weight"
        case .attentionNorm(let layer): return "blk.\(layer).attn_norm.weight"
        case .mlpNorm(let layer): return "blk.\(layer).ffn_norm.weight"
        case .linear(let layer, let module): return "blk.\(layer).\(short(module)).weight"
        case .bias(let layer, let module): return "blk.\(layer).\(short(module)).bias"
        case .finalNorm: return "output_norm.weight"
        case .output: return "output.weight"
        }
    }

    /// The name a GGUF of `family` stores `tensor` under: `name(of:)`, except for Phi-3's stacked
    /// linears (`attn_qkv`; gate and up together as `ffn_up`).
    static func storedName(of tensor: LlamaTensor, family: ModelFamily) -> String {
        guard case .linear(let layer, let module) = tensor, let group = family.fusedGroup(of: module) else {
            return name(of: tensor)
        }
        return "blk.\(layer).\(group == [.q, .k, .v] ? "attn_qkv" : "ffn_up").weight"
    }

    /// The tensors a GGUF of `c` stores, in order, each with the model tensors it holds.
    static func storedTensors(for c: LlamaConfig) -> [(name: String, parts: [LlamaTensor])] {
        FusedRows.storedTensors(for: c) { storedName(of: $0, family: c.family) }
    }

    /// llama.cpp's name of a decoder linear (`attn_q`, `ffn_down`, ...).
    static func short(_ module: LinearModule) -> String {
        let short: String
        switch module {
        case .q: short = "attn_q"
        case .k: short = "attn_k"
        case .v: short = "attn_v"
        case .o: short = "attn_output"
        case .gate: short = "ffn_gate"
        case .up: short = "ffn_up"
        case .down: short = "ffn_down"
        }
        return short
    }
}
