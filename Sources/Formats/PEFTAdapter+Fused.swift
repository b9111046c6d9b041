import Foundation
import LoRA
import Llama

/// PEFT's adapters on a family whose linears are stacked (Phi-3's `qkv_proj`, `gate_up_proj`):
/// PEFT wraps the stacked module, so its adapter has one A and one B there. Loft keeps one
/// adapter per split linear; written for PEFT, the adapters of a group become one of rank n·R
/// (A = the n A's stacked, B block-diagonal: member j's B in its rows and columns j·R..<(j+1)·R,
/// zeros elsewhere; alpha n·α, so the scaling α/R is kept), which is the same product exactly —
/// or, when the members share one A (an adapter read from PEFT's form), that A and rank R.
/// Read back, each member gets the whole A and its rows of B (a PEFT-trained adapter's shared A
/// and B rows, or the block form above): the same model again.
/// reference: peft LoraModel (target_modules on Phi-3: qkv_proj, gate_up_proj); rank_pattern
extension AdapterFiles {
    /// Writes the adapters of `model` for PEFT and transformers (`final/`, `export --backbone`):
    /// as `write(model:config:to:)`, with a stacked group's adapters as one. Checkpoints keep the
    /// split form (`write(model:config:to:)`), which resume reads tensor by tensor.
    public static func writeForPEFT(model: LlamaModel, config: AdapterConfig, to folder: URL) throws {
        let family = model.config.family
        guard !family.fusedGroups.isEmpty else { return try write(model: model, config: config, to: folder) }
        var tensors: [String: SafeTensor] = [:]
        var fusedConfig = config
        var fusedTargets = Set(config.targetModules)
        for (layer, block) in model.blocks.enumerated() {
            for module in LinearModule.allCases where family.fusedGroup(of: module) == nil {
                guard let lora = block[module] as? LoRALinear else { continue }
                tensors[PEFTNames.key(layer: layer, module: module, tensor: "lora_A")] =
                    SafeTensor(lora.loraA.data, shape: lora.loraA.shape)
                tensors[PEFTNames.key(layer: layer, module: module, tensor: "lora_B")] =
                    SafeTensor(lora.loraB.data, shape: lora.loraB.shape)
            }
            for group in family.fusedGroups {
                let members = group.compactMap { module in (block[module] as? LoRALinear).map { (module, $0) } }
                guard let first = members.first?.1 else { continue }
                guard members.allSatisfy({ $0.1.rank == first.rank && $0.1.alpha == first.alpha }) else {
                    throw FormatError.invalidConfig(
                        path: folder.path, key: "r",
                        detail: "the adapters of \(ModelFamily.fusedName(group)) differ in rank or alpha")
                }
                // Members that share one A (read from a stacked adapter) are written as it was: that
                // A and their B rows, rank R; members with their own A's in the block form, rank n·R.
                let shared = members.allSatisfy { $0.1.loraA.data == first.loraA.data }
                let blocks = shared ? 1 : members.count
                let rank = first.rank * blocks
                let rows = group.map { $0.shape(in: model.config)[0] }.reduce(0, +)
                var a: [Float] = []
                var b = [Float](repeating: 0, count: rows * rank)
                for (j, (module, lora)) in members.enumerated() {
                    if !shared || j == 0 { a += lora.loraA.data }
                    let column = shared ? 0 : j * first.rank
                    let memberRows = module.rows(in: group, config: model.config)
                    let loraB = lora.loraB.data
                    for (k, row) in memberRows.enumerated() {
                        for c in 0..<first.rank { b[row * rank + column + c] = loraB[k * first.rank + c] }
                    }
                }
                let name = ModelFamily.fusedName(group)
                let path = HuggingFaceNames.fusedModulePath(layer: layer, group)
                tensors["base_model.model.\(path).lora_A.weight"] = SafeTensor(a, shape: [rank, first.inFeatures])
                tensors["base_model.model.\(path).lora_B.weight"] = SafeTensor(b, shape: [rows, rank])
                fusedConfig.rankPattern[name] = rank
                fusedConfig.alphaPattern[name] = first.alpha * Float(blocks)
                fusedTargets.subtract(group.map(\.rawValue))
                fusedTargets.insert(name)
            }
        }
        fusedConfig.targetModules = fusedTargets.sorted()
        // `r` and `lora_alpha` are those of the split modules (the stacked ones have patterns).
        let split = model.blocks.lazy.flatMap { block in
            LinearModule.allCases.lazy.filter { family.fusedGroup(of: $0) == nil }.compactMap {
                block[$0] as? LoRALinear
            }
        }
        if let plain = split.first {
            fusedConfig.r = plain.rank
            fusedConfig.loraAlpha = plain.alpha
        }
        try write(tensors: tensors, config: fusedConfig, to: folder)
    }

    /// The stacked module `name` (`qkv_proj`, `gate_up_proj`) names, as its members.
    static func fusedMembers(_ name: String) -> [LinearModule]? {
        ModelFamily.allCases.lazy.flatMap(\.fusedGroups).first { ModelFamily.fusedName($0) == name }
    }
}
