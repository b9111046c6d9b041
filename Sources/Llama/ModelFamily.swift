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
        }
    }

    /// GGUF's `general.architecture` (llama.cpp converts Mistral as `llama`).
    public var ggufArchitecture: String { self == .qwen2 ? "qwen2" : "llama" }
}
