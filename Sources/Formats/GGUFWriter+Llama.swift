import Foundation
import Llama
import Tokenizers

extension GGUFWriter {
    /// A llama.cpp model file of `source`: `llama.*` metadata from its config, the `tokenizer`
    /// (byte-level BPE or SentencePiece) as `tokenizer.ggml.*`, norms in F32, the embedding and linears as `linearType`
    /// (F16 for a matrix whose rows are not whole blocks of 32; Q8_0 for the output projection
    /// when the linears are Q4), and the `attn_q`/`attn_k` rows
    /// permuted from `rotate_half` to ggml's interleaved RoPE (what `GGUFCheckpoint` undoes).
    /// reference: llama.cpp convert_hf_to_gguf.py (LlamaModel: keys, names, permute)
    public static func llama(
        source: CheckpointSource, tokenizer: any Tokenizer, linearType: TensorType,
        name: String
    ) throws -> GGUFWriter {
        let c = source.config
        let architecture = c.family.ggufArchitecture
        var gguf = GGUFWriter()
        gguf.set("general.architecture", .string(architecture))
        gguf.set("general.name", .string(name))
        gguf.set("general.file_type", .uint32(linearType.fileType))
        for (key, value) in [
            ("context_length", c.maxSequenceLength), ("embedding_length", c.dim), ("block_count", c.layers),
            ("feed_forward_length", c.hiddenDim), ("attention.head_count", c.heads),
            ("attention.head_count_kv", c.kvHeads), ("rope.dimension_count", c.headDim),
            ("vocab_size", c.vocabularySize),
        ] {
            gguf.set(architecture + "." + key, .uint32(UInt32(value)))
        }
        gguf.set(architecture + ".rope.freq_base", .float32(c.ropeTheta))
        if c.explicitHeadDim != nil {
            gguf.set(architecture + ".attention.key_length", .uint32(UInt32(c.headDim)))
            gguf.set(architecture + ".attention.value_length", .uint32(UInt32(c.headDim)))
        }
        gguf.set(architecture + ".attention.layer_norm_rms_epsilon", .float32(c.normEps))
        switch c.ropeScaling {
        case nil: break
        case .dynamic:
            throw FormatError.invalidGGUF(
                path: name, field: "rope_scaling",
                detail:
                    "dynamic (NTK) RoPE scaling has no GGUF form: llama.cpp does not implement it (export --merged for transformers)"
            )
        case .linear(let factor):
            gguf.set(architecture + ".rope.scaling.type", .string("linear"))
            gguf.set(architecture + ".rope.scaling.factor", .float32(factor))
        case .llama3, .frequencyFactors:
            // as llama.cpp's converter: the scaling as per-frequency divisors, unscaled ÷ scaled
            var unscaled = c
            unscaled.ropeScaling = nil
            let factors = zip(unscaled.ropeInverseFrequencies, c.ropeInverseFrequencies).map { $0 / $1 }
            try gguf.addTensor("rope_freqs.weight", values: factors, shape: [factors.count], type: .f32)
        }
        try gguf.setTokenizer(tokenizer, name: name)

        for (name, parts) in GGUFNames.storedTensors(for: c) {
            var values: [Float] = []
            for tensor in parts {
                var part = try source.floats(tensor)
                // Llama's q and k rows go to ggml's interleaved RoPE; Qwen2's and Phi-3's (NeoX RoPE) stay.
                switch (architecture, tensor) {
                case ("llama", .linear(_, .q)):
                    part = rotateHalfToInterleaved(part, heads: c.heads, headDim: c.headDim, columns: c.dim)
                case ("llama", .linear(_, .k)):
                    part = rotateHalfToInterleaved(part, heads: c.kvHeads, headDim: c.headDim, columns: c.dim)
                default: break
                }
                values += part
            }
            let first = parts[0].shape(in: c)
            let shape = parts.count == 1 ? first : [parts.map { $0.shape(in: c)[0] }.reduce(0, +), first[1]]
            var type: TensorType = shape.count == 1 ? .f32 : linearType
            // The output projection (the embedding, when tied) at 4 bits costs the most quality:
            // Q8_0 there, as llama.cpp's quantizer keeps it above the linears' type.
            let isOutput = parts[0] == .output || (parts[0] == .embedding && c.tiedEmbeddings)
            if isOutput, type == .q4_0 || type == .q4_1 { type = .q8_0 }
            if shape[shape.count - 1] % type.ggml.blockSize != 0 { type = .f16 }
            try gguf.addTensor(name, values: values, shape: shape, type: type)
        }
        return gguf
    }
}
