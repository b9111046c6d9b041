import Foundation

/// The shape of a Llama-2-family decoder.
/// Shape letters used across Loft: D = dim, L = layers, H = heads, Hkv = KV heads, Dh = D / H,
/// F = hidden (MLP) width, V = vocabulary.
public struct LlamaConfig: Codable, Equatable, Sendable {
    /// D, L, H, Hkv, F, V.
    public var dim: Int, layers: Int, heads: Int, kvHeads: Int, hiddenDim: Int, vocabularySize: Int
    /// RMSNorm epsilon.
    public var normEps: Float
    /// RoPE base θ.
    public var ropeTheta: Float
    /// The longest sequence the model was trained for.
    public var maxSequenceLength: Int
    /// Whether `lm_head` is the token embedding.
    public var tiedEmbeddings: Bool
    /// RoPE scaling (nil: none).
    public var ropeScaling: RopeScaling? = nil
    /// A head size the checkpoint states apart from D / H (Hugging Face `head_dim`, GGUF
    /// `attention.key_length`); nil: D / H.
    public var explicitHeadDim: Int? = nil
    /// The family (what the checkpoint holds beyond Llama's tensors: Qwen2's q/k/v biases).
    public var family = ModelFamily.llama
    /// The attention window the checkpoint states (Mistral's, Phi-3's `sliding_window`), nil:
    /// none. `maxSequenceLength` is held within it, and sequences longer than it are refused
    /// (Loft's attention is plain causal: beyond the window it would compute another model).
    public var slidingWindow: Int? = nil

    /// A config from its values; traps on inconsistent shapes (a programming error).
    public init(
        dim: Int, layers: Int, heads: Int, kvHeads: Int, hiddenDim: Int, vocabularySize: Int,
        normEps: Float = 1e-5, ropeTheta: Float = 10_000, maxSequenceLength: Int = 2048,
        tiedEmbeddings: Bool = false
    ) {
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        (self.hiddenDim, self.vocabularySize, self.normEps) = (hiddenDim, vocabularySize, normEps)
        (self.ropeTheta, self.maxSequenceLength, self.tiedEmbeddings) = (ropeTheta, maxSequenceLength, tiedEmbeddings)
        precondition(validationProblem == nil, "LlamaConfig: \(validationProblem!)")
    }

    /// Dh, the width of one head.
    public var headDim: Int { explicitHeadDim ?? dim / heads }
    /// H · Dh, the width of the q projection and of the attention output (D unless `head_dim`
    /// says otherwise).
    public var qDim: Int { heads * headDim }
    /// Hkv · Dh, the width of the k and v projections.
    public var kvDim: Int { kvHeads * headDim }

    /// What is inconsistent, or nil.
    public var validationProblem: String? {
        if [dim, layers, heads, kvHeads, hiddenDim, vocabularySize].contains(where: { $0 <= 0 }) {
            return "sizes must be positive"
        }
        if [dim, layers, heads, kvHeads, hiddenDim, vocabularySize, maxSequenceLength].contains(where: { $0 > 1 << 24 })
        {
            return "sizes must be at most 2^24 (16,777,216)"
        }
        if let explicit = explicitHeadDim {
            if explicit <= 0 || explicit > 1 << 16 { return "head size \(explicit) must be in 1...65536" }
        } else if dim % heads != 0 {
            return "dim \(dim) is not a multiple of heads \(heads)"
        }
        if heads % kvHeads != 0 { return "heads \(heads) is not a multiple of kv heads \(kvHeads)" }
        if headDim % 2 != 0 { return "head size \(headDim) must be even for RoPE" }
        if let problem = ropeScaling?.problem(headDim: headDim) { return problem }
        return nil
    }

    /// The values without the consistency trap (callers check `validationProblem`).
    public init(
        unchecked dim: Int, layers: Int, heads: Int, kvHeads: Int, hiddenDim: Int, vocabularySize: Int,
        normEps: Float, ropeTheta: Float, maxSequenceLength: Int, tiedEmbeddings: Bool
    ) {
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        (self.hiddenDim, self.vocabularySize, self.normEps) = (hiddenDim, vocabularySize, normEps)
        (self.ropeTheta, self.maxSequenceLength, self.tiedEmbeddings) = (ropeTheta, maxSequenceLength, tiedEmbeddings)
    }
}
