import Llama
import Formats
import LoRA
import _TestSupport

/// stories260K (the HF folder) with LoRA r = 4, alpha 8 on all seven linears of every layer,
/// A and B set to the golden deterministic values of `stories260K_lora_grads.safetensors`.
func goldenLoRAModel(dropout: Float = 0) throws -> (LlamaModel, GoldenTensors) {
    let golden = try GoldenTensors(path: Fixtures.golden("stories260K_lora_grads.safetensors"))
    let model = try LlamaModel(checkpoint: HuggingFaceCheckpoint(folder: Fixtures.golden("stories260K-hf")))
    for (layer, block) in model.blocks.enumerated() {
        for module in LinearModule.allCases {
            let prefix = "base_model.model." + HuggingFaceNames.modulePath(layer: layer, module)
            block[module] = LoRALinear(
                base: block[module], a: golden["init.\(prefix).lora_A.weight"],
                b: golden["init.\(prefix).lora_B.weight"], rank: 4, alpha: 8, dropout: dropout)
        }
    }
    return (model, golden)
}
