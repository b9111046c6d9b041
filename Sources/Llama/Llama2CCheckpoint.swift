import Foundation

/// A llama2.c checkpoint (`.bin`, legacy version 0): seven int32 header fields, then float32
/// arrays in a fixed order; a negative vocabulary size means a separate classifier follows.
/// The wq/wk rows (interleaved RoPE pairs, as Meta's code) are permuted at read time into the
/// Hugging Face `rotate_half` convention.
/// reference: karpathy/llama2.c run.c (read_checkpoint, memory_map_weights)
public final class Llama2CCheckpoint: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    private let file: MappedFile
    private var layout: [String: (offset: Int, shape: [Int], layerStride: Int, layer: Int)] = [:]

    /// Opens and checks `path` (the file size must match the header exactly).
    public init(path: String) throws {
        sourceDescription = path
        guard FileManager.default.fileExists(atPath: path) else { throw LlamaError.fileNotFound(path: path) }
        let file = try MappedFile(path: path)
        self.file = file
        guard file.size >= 28 else { throw LlamaError.truncated(path: path, detail: "\(file.size) bytes, shorter than the 28-byte header") }
        let header = (0..<7).map { i in Int(Int32(littleEndian: file.base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        let (dim, hidden, layers, heads, kvHeads, rawVocab, seqLen) = (header[0], header[1], header[2], header[3], header[4], header[5], header[6])
        let config = LlamaConfig(unchecked: dim, layers: layers, heads: heads, kvHeads: kvHeads, hiddenDim: hidden,
                                 vocabularySize: abs(rawVocab), normEps: 1e-5, ropeTheta: 10_000,
                                 maxSequenceLength: seqLen, tiedEmbeddings: rawVocab > 0)
        if let problem = config.validationProblem, seqLen > 0 {
            throw LlamaError.invalidConfig(path: path, key: "header", detail: "\(problem) (header \(header))")
        } else if seqLen <= 0 || config.validationProblem != nil {
            throw LlamaError.invalidConfig(path: path, key: "header", detail: "not a llama2.c v0 header: \(header)")
        }
        self.config = config
        var offset = 28
        var layout: [String: (offset: Int, shape: [Int], layerStride: Int, layer: Int)] = [:]
        func add(_ name: String, _ shape: [Int], perLayer: Bool) {
            let size = shape.product * 4
            if perLayer {
                for layer in 0..<layers {
                    layout[name.replacingOccurrences(of: "{i}", with: "\(layer)")] = (offset, shape, size, layer)
                }
                offset += size * layers
            } else {
                layout[name] = (offset, shape, 0, 0)
                offset += size
            }
        }
        let c = config
        add("model.embed_tokens.weight", [c.vocabularySize, dim], perLayer: false)
        add("model.layers.{i}.input_layernorm.weight", [dim], perLayer: true)
        add("model.layers.{i}.self_attn.q_proj.weight", [dim, dim], perLayer: true)
        add("model.layers.{i}.self_attn.k_proj.weight", [c.kvDim, dim], perLayer: true)
        add("model.layers.{i}.self_attn.v_proj.weight", [c.kvDim, dim], perLayer: true)
        add("model.layers.{i}.self_attn.o_proj.weight", [dim, dim], perLayer: true)
        add("model.layers.{i}.post_attention_layernorm.weight", [dim], perLayer: true)
        add("model.layers.{i}.mlp.gate_proj.weight", [hidden, dim], perLayer: true)
        add("model.layers.{i}.mlp.down_proj.weight", [dim, hidden], perLayer: true)
        add("model.layers.{i}.mlp.up_proj.weight", [hidden, dim], perLayer: true)
        add("model.norm.weight", [dim], perLayer: false)
        offset += 2 * seqLen * c.headDim / 2 * 4  // freq_cis_real, freq_cis_imag (legacy, unused)
        if !c.tiedEmbeddings { add("lm_head.weight", [c.vocabularySize, dim], perLayer: false) }
        self.layout = layout
        guard offset == file.size else {
            throw LlamaError.truncated(path: path, detail: "the header \(header) implies \(offset) bytes, the file has \(file.size)")
        }
    }

    public var tensorNames: [String] { layout.keys.sorted() }

    public func shape(of name: String) -> [Int]? { layout[name]?.shape }

    public func floats(_ name: String) throws -> [Float] {
        guard let entry = layout[name] else { throw LlamaError.missingTensor(name: name, source: sourceDescription) }
        let start = entry.offset + entry.layer * entry.layerStride
        let count = entry.shape.product
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { file.copy(from: start, count: count * 4, to: $0.baseAddress!) }
        if name.hasSuffix("q_proj.weight") { return permuteForRotateHalf(values, heads: config.heads) }
        if name.hasSuffix("k_proj.weight") { return permuteForRotateHalf(values, heads: config.kvHeads) }
        return values
    }

    /// Rows of a Meta/llama2.c q or k weight [heads·Dh, D] reordered for `rotate_half`:
    /// HF row h·Dh + j is Meta row h·Dh + 2j, and HF row h·Dh + Dh/2 + j is Meta row h·Dh + 2j + 1.
    func permuteForRotateHalf(_ weight: [Float], heads: Int) -> [Float] {
        let (dim, headDim) = (config.dim, config.headDim)
        var out = [Float](repeating: 0, count: weight.count)
        for h in 0..<heads {
            for j in 0..<(headDim / 2) {
                for (hfRow, metaRow) in [(h * headDim + j, h * headDim + 2 * j),
                                         (h * headDim + headDim / 2 + j, h * headDim + 2 * j + 1)] {
                    for col in 0..<dim { out[hfRow * dim + col] = weight[metaRow * dim + col] }
                }
            }
        }
        return out
    }
}
