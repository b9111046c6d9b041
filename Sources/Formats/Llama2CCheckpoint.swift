import Foundation
import Llama
import Support

/// A llama2.c checkpoint (`.bin`, legacy version 0): seven int32 header fields, then float32
/// arrays in a fixed order; a negative vocabulary size means a separate classifier follows.
/// The wq/wk rows (interleaved RoPE pairs, as Meta's code) are permuted at read time into the
/// Hugging Face `rotate_half` convention.
/// reference: karpathy/llama2.c run.c (read_checkpoint, memory_map_weights)
public final class Llama2CCheckpoint: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    private let file: MappedFile
    /// The byte offset of every tensor: the format's one name map (its fixed order).
    private var offsets: [LlamaTensor: Int] = [:]

    /// Opens and checks `path` (the file size must match the header exactly).
    public init(path: String) throws {
        sourceDescription = path
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.fileNotFound(path: path) }
        let file = try MappedFile(path: path)
        self.file = file
        guard file.size >= 28 else {
            throw FormatError.truncated(path: path, detail: "\(file.size) bytes, shorter than the 28-byte header")
        }
        let header = (0..<7).map { i in
            Int(Int32(littleEndian: file.base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        }
        let (dim, hidden, layers, heads, kvHeads, rawVocab, seqLen) = (
            header[0], header[1], header[2], header[3], header[4], header[5], header[6]
        )
        let config = LlamaConfig(
            unchecked: dim, layers: layers, heads: heads, kvHeads: kvHeads, hiddenDim: hidden,
            vocabularySize: abs(rawVocab), normEps: 1e-5, ropeTheta: 10_000,
            maxSequenceLength: seqLen, tiedEmbeddings: rawVocab > 0)
        if let problem = config.validationProblem, seqLen > 0 {
            throw FormatError.invalidConfig(path: path, key: "header", detail: "\(problem) (header \(header))")
        } else if seqLen <= 0 || config.validationProblem != nil {
            throw FormatError.invalidConfig(path: path, key: "header", detail: "not a llama2.c v0 header: \(header)")
        }
        self.config = config
        // Sizes come from the header: every sum and product is checked, so a crafted header is an
        // error, never an overflow; offsets are recorded only once the total matches the file.
        var offset = 28
        var offsets: [LlamaTensor: Int] = [:]
        func advance(_ bytes: Int, times: Int) throws {
            let (total, overflowA) = bytes.multipliedReportingOverflow(by: times)
            let (next, overflowB) = offset.addingReportingOverflow(total)
            guard !overflowA, !overflowB else {
                throw FormatError.truncated(
                    path: path, detail: "the header \(header) implies more bytes than can be addressed")
            }
            offset = next
        }
        func layout(record: Bool) throws {
            offset = 28
            func add(_ tensor: (Int) -> LlamaTensor, perLayer: Bool) throws {
                guard let size = SafeTensorsDType.F32.byteCount(of: tensor(0).shape(in: config)) else {
                    throw FormatError.truncated(
                        path: path, detail: "the header \(header) implies tensors too large to address")
                }
                let count = perLayer ? layers : 1
                if record { for layer in 0..<count { offsets[tensor(layer)] = offset + layer * size } }
                try advance(size, times: count)
            }
            try add({ _ in .embedding }, perLayer: false)
            try add({ .attentionNorm(layer: $0) }, perLayer: true)
            for module in [LinearModule.q, .k, .v, .o] { try add({ .linear(layer: $0, module) }, perLayer: true) }
            try add({ .mlpNorm(layer: $0) }, perLayer: true)
            for module in [LinearModule.gate, .down, .up] { try add({ .linear(layer: $0, module) }, perLayer: true) }
            try add({ _ in .finalNorm }, perLayer: false)
            // freq_cis_real, freq_cis_imag [T, Dh/2] each (legacy, unused)
            try advance(seqLen * 4, times: config.headDim)
            if !config.tiedEmbeddings { try add({ _ in .output }, perLayer: false) }
        }
        try layout(record: false)
        guard offset == file.size else {
            throw FormatError.truncated(
                path: path, detail: "the header \(header) implies \(offset) bytes, the file has \(file.size)")
        }
        try layout(record: true)
        self.offsets = offsets
    }

    /// llama2.c has no tensor names: the model's own names stand in for them.
    public func name(of tensor: LlamaTensor) -> String { tensor.description }

    public func shape(of tensor: LlamaTensor) -> [Int]? { offsets[tensor] == nil ? nil : tensor.shape(in: config) }

    public func floats(_ tensor: LlamaTensor) throws -> [Float] {
        guard let start = offsets[tensor] else {
            throw LlamaError.missingTensor(name: name(of: tensor), source: sourceDescription)
        }
        let count = tensor.shape(in: config).product
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { file.copy(from: start, count: count * 4, to: $0.baseAddress!) }
        switch tensor {
        case .linear(_, .q):
            return interleavedToRotateHalf(values, heads: config.heads, headDim: config.headDim, columns: config.dim)
        case .linear(_, .k):
            return interleavedToRotateHalf(values, heads: config.kvHeads, headDim: config.headDim, columns: config.dim)
        default: return values
        }
    }

    /// Every tensor is where the fixed order puts it: nothing unexpected.
    public var unexpectedTensorNames: [String] { [] }
}

/// Rows of a q or k weight [heads·Dh, D] stored for interleaved RoPE pairs (Meta's, llama2.c's,
/// and GGUF's layout) reordered for `rotate_half`: HF row h·Dh + j is stored row h·Dh + 2j, and HF
/// row h·Dh + Dh/2 + j is stored row h·Dh + 2j + 1.
/// reference: transformers convert_llama_weights_to_hf.py (permute), llama.cpp convert_hf_to_gguf.py (the inverse)
func interleavedToRotateHalf(_ weight: [Float], heads: Int, headDim: Int, columns: Int) -> [Float] {
    permuteRoPERows(weight, heads: heads, headDim: headDim, columns: columns, toRotateHalf: true)
}

/// The inverse of `interleavedToRotateHalf`: `rotate_half` rows back to the interleaved pairs
/// llama.cpp and llama2.c store.
func rotateHalfToInterleaved(_ weight: [Float], heads: Int, headDim: Int, columns: Int) -> [Float] {
    permuteRoPERows(weight, heads: heads, headDim: headDim, columns: columns, toRotateHalf: false)
}

/// Moves every row between its `rotate_half` place and its interleaved place, one way or the other.
private func permuteRoPERows(_ weight: [Float], heads: Int, headDim: Int, columns: Int, toRotateHalf: Bool) -> [Float] {
    var out = [Float](repeating: 0, count: weight.count)
    weight.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBufferPointer { target in
            for h in 0..<heads {
                for j in 0..<(headDim / 2) {
                    for (hfRow, storedRow) in [
                        (h * headDim + j, h * headDim + 2 * j),
                        (h * headDim + headDim / 2 + j, h * headDim + 2 * j + 1),
                    ] {
                        let (to, from) = toRotateHalf ? (hfRow, storedRow) : (storedRow, hfRow)
                        for col in 0..<columns { target[to * columns + col] = source[from * columns + col] }
                    }
                }
            }
        }
    }
    return out
}
