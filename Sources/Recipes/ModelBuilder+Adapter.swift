import Formats
import Foundation
import Llama
import Training

extension ModelBuilder {
    /// `lora.init: adapter`: puts the factors of the PEFT adapter `lora.adapter` on every target
    /// of the built `model` (continued fine-tuning), with the run's dropout. The adapter must have
    /// the run's rank, alpha and target modules, one rank for every layer (training keeps one).
    /// (`isLoftFolder`: the base is a `loft quantize` folder.) Returns a warning when the adapter
    /// was started by LoftQ on another quantized base.
    /// reference: peft PeftModel.from_pretrained(..., is_trainable=True)
    static func continueFromAdapter(
        _ config: RunConfig, file: String, model: LlamaModel,
        isLoftFolder: Bool
    ) throws -> [String] {
        guard let path = config.lora.adapter else { return [] }
        let folder = URL(fileURLWithPath: path)
        let adapter = try AdapterFiles.readConfig(folder)
        let configPath = folder.appendingPathComponent("adapter_config.json").path
        for (key, set) in [
            ("rank_pattern", !adapter.rankPattern.isEmpty), ("alpha_pattern", !adapter.alphaPattern.isEmpty),
            ("use_rslora", adapter.useRslora), ("layers_to_transform", adapter.layersToTransform != nil),
        ] where set {
            throw FormatError.invalidConfig(
                path: configPath, key: key,
                detail:
                    "training continues with one rank and alpha on every layer; this adapter can be evaluated, not continued"
            )
        }
        try checkAdapter(
            adapter, matches: config, file: file, whose: "the adapter's", detail: "must match the adapter \(path)")
        let attached = try AdapterFiles.attach(folder, to: model, dropout: config.lora.dropout)
        let warning = ModelFiles.baseMismatchWarning(
            adapter: path, config: attached, base: config.model.path, isLoftFolder: isLoftFolder)
        return warning.map { [$0] } ?? []
    }
}
