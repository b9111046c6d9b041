/// The decoder families Loft runs. They share one block (pre-norm attention with RoPE and GQA,
/// SwiGLU MLP, RMSNorm); what tells them apart is what their checkpoints hold.
/// reference: transformers modeling_llama.py, modeling_mistral.py, modeling_qwen2.py
public enum ModelFamily: String, Codable, Sendable, CaseIterable {
    /// Llama 1/2/3, SmolLM, TinyLlama: no biases.
    case llama
    /// Mistral: Llama's block; a sliding attention window (the context is held within it).
    case mistral
    /// Qwen2 / Qwen2.5: biases on the q, k and v projections (frozen, part of the base).
    case qwen2
    /// Phi-3 (mini, 4k context): q, k and v stored as one `qkv_proj`, gate and up as one
    /// `gate_up_proj` (split into the block's linears when read, stacked again when written).
    case phi3

    /// Whether the q, k and v projections carry biases.
    public var hasQKVBias: Bool { self == .qwen2 }

    /// The modules whose projections carry a bias.
    public var biasedModules: [LinearModule] { hasQKVBias ? [.q, .k, .v] : [] }

    /// Hugging Face's `model_type` and `architectures` entry.
    public var huggingFaceModelType: String { rawValue }
    public var huggingFaceArchitecture: String {
        switch self {
        case .llama: return "LlamaForCausalLM"
        case .mistral: return "MistralForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        case .phi3: return "Phi3ForCausalLM"
        }
    }

    /// The linears the family stores stacked by rows in one tensor, each group in row order.
    public var fusedGroups: [[LinearModule]] { self == .phi3 ? [[.q, .k, .v], [.gate, .up]] : [] }

    /// The stacked group `module` is stored in, if any.
    public func fusedGroup(of module: LinearModule) -> [LinearModule]? {
        fusedGroups.first { $0.contains(module) }
    }

    /// Hugging Face's (and PEFT's) name of a stacked group: `qkv_proj`, `gate_up_proj`.
    public static func fusedName(_ group: [LinearModule]) -> String {
        group == [.q, .k, .v] ? "qkv_proj" : "gate_up_proj"
    }

    /// GGUF's `general.architecture` (llama.cpp converts Mistral as `llama`).
    public var ggufArchitecture: String {
        switch self {
        case .llama, .mistral: return "llama"
        case .qwen2: return "qwen2"
        case .phi3: return "phi3"
        }
    }
}
