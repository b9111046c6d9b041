import Foundation
import LoRA
import Llama

extension GGUFWriter {
    /// A llama.cpp LoRA adapter file of `model`'s adapters: `general.type = adapter`,
    /// `adapter.type = lora`, `adapter.lora.alpha`, and for each adapted linear the tensors
    /// `<its GGUF name>.lora_a` [R, in] and `.lora_b` [out, R] (row-major, outermost first).
    /// llama.cpp scales an adapter by `alpha / R` with R read from the tensor, so each B carries
    /// the factor that makes that scale the layer's own (1 for plain LoRA). Llama's q and k rows
    /// go to ggml's interleaved RoPE in B, as the base's weights do; a stacked group (Phi-3's
    /// `attn_qkv`, its fused `ffn_up`) gets one adapter of rank Σ R: A stacked, B block-diagonal
    /// (a member without an adapter contributes zero rows). `type` is f32, f16 or q8_0 (a matrix
    /// whose rows are not whole blocks of 32 stays f16).
    /// reference: llama.cpp convert_lora_to_gguf.py; llama-adapter.cpp (scale = alpha / rank)
    public static func loraAdapter(model: LlamaModel, type: TensorType, name: String) throws -> GGUFWriter {
        let c = model.config
        let architecture = c.family.ggufArchitecture
        guard let alpha = model.blocks.lazy.flatMap(\.loraLayers).first?.alpha else {
            throw FormatError.invalidGGUF(path: name, field: "adapter", detail: "the model has no adapter to export")
        }
        var gguf = GGUFWriter()
        gguf.set("general.architecture", .string(architecture))
        gguf.set("general.type", .string("adapter"))
        gguf.set("general.name", .string(name))
        gguf.set("adapter.type", .string("lora"))
        gguf.set("adapter.lora.alpha", .float32(alpha))
        for (storedName, parts) in GGUFNames.storedTensors(for: c) {
            let members: [(module: LinearModule, lora: LoRALinear?)] = parts.compactMap { tensor in
                guard case .linear(let layer, let module) = tensor else { return nil }
                return (module, model.blocks[layer][module] as? LoRALinear)
            }
            guard members.count == parts.count, members.contains(where: { $0.lora != nil }) else { continue }
            let (a, b) = stackedFactors(members, config: c, alpha: alpha)
            for (suffix, values, shape) in [(".lora_a", a.values, a.shape), (".lora_b", b.values, b.shape)] {
                let storedType = shape[1] % type.ggml.blockSize == 0 ? type : .f16
                try gguf.addTensor(storedName + suffix, values: values, shape: shape, type: storedType)
            }
        }
        return gguf
    }

    /// The stacked A [Σ R, in] and block-diagonal B [Σ out, Σ R] of one stored linear, B scaled
    /// so that llama.cpp's `alpha / Σ R` gives each member its own scaling.
    private static func stackedFactors(
        _ members: [(module: LinearModule, lora: LoRALinear?)], config c: LlamaConfig, alpha: Float
    ) -> (a: (values: [Float], shape: [Int]), b: (values: [Float], shape: [Int])) {
        let ranks = members.map { $0.lora?.rank ?? 0 }
        let totalRank = ranks.reduce(0, +)
        let outs = members.map { $0.module.shape(in: c)[0] }
        let inFeatures = members[0].module.shape(in: c)[1]
        var a: [Float] = []
        var b = [Float](repeating: 0, count: outs.reduce(0, +) * totalRank)
        var (rowStart, rankStart) = (0, 0)
        for (index, member) in members.enumerated() {
            defer { (rowStart, rankStart) = (rowStart + outs[index], rankStart + ranks[index]) }
            guard let lora = member.lora else { continue }
            a += lora.loraA.data
            let factor = lora.scaling / (alpha / Float(totalRank))
            var block = lora.loraB.data.map { $0 * factor }  // [out, R]
            if c.family.ggufArchitecture == "llama", member.module == .q || member.module == .k {
                let heads = member.module == .q ? c.heads : c.kvHeads
                block = rotateHalfToInterleaved(block, heads: heads, headDim: c.headDim, columns: lora.rank)
            }
            for row in 0..<outs[index] {
                for r in 0..<lora.rank {
                    b[(rowStart + row) * totalRank + rankStart + r] = block[row * lora.rank + r]
                }
            }
        }
        return ((a, [totalRank, inFeatures]), (b, [outs.reduce(0, +), totalRank]))
    }
}
