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
