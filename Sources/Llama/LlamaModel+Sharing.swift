import Autograd
import LoRA

extension LlamaModel {
    /// A model over the same frozen weights — embedding, norms, biases and every base linear, shared,
    /// not copied — with no adapter: another adapter can then be attached to it without touching
    /// this model (a server keeps one base and a model per adapter for the memory of one).
    public func sharingFrozenWeights() -> LlamaModel {
        let blocks = self.blocks.map { block in
            func frozen(_ module: LinearModule) -> LinearLayer {
                (block[module] as? LoRALinear)?.base ?? block[module]
            }
            let copy = TransformerBlock(
                attentionNorm: block.attentionNorm, mlpNorm: block.mlpNorm, q: frozen(.q), k: frozen(.k),
                v: frozen(.v), o: frozen(.o), gate: frozen(.gate), up: frozen(.up), down: frozen(.down))
            copy.qkvBias = block.qkvBias
            return copy
        }
        return LlamaModel(
            config: config, embedding: embedding, blocks: blocks, finalNorm: finalNorm, outputWeight: outputWeight)
    }
}
