import Autograd
import Foundation
import LoRA

/// One decoder layer: pre-norm attention and pre-norm SwiGLU MLP, each with a residual.
public final class TransformerBlock {
    /// RMSNorm weights [D] before attention and before the MLP.
    public let attentionNorm: Tensor, mlpNorm: Tensor
    /// The seven linears, replaceable by quantized or LoRA-wrapped layers.
    public var q: LinearLayer, k: LinearLayer, v: LinearLayer, o: LinearLayer
    public var gate: LinearLayer, up: LinearLayer, down: LinearLayer

    /// A block from its parts.
    public init(attentionNorm: Tensor, mlpNorm: Tensor, q: LinearLayer, k: LinearLayer, v: LinearLayer,
                o: LinearLayer, gate: LinearLayer, up: LinearLayer, down: LinearLayer) {
        (self.attentionNorm, self.mlpNorm) = (attentionNorm, mlpNorm)
        (self.q, self.k, self.v, self.o, self.gate, self.up, self.down) = (q, k, v, o, gate, up, down)
    }

    /// The LoRA-wrapped linears of this block.
    public var loraLayers: [LoRALinear] { LlamaTensorNames.linearModules.compactMap { self[$0] as? LoRALinear } }

    /// The trainable tensors of this block's linears.
    public var trainableParameters: [Tensor] {
        LlamaTensorNames.linearModules.flatMap { self[$0].trainableParameters.map(\.tensor) }
    }

    /// The linear of HF module name `module` (`q_proj`, ..., `down_proj`).
    public subscript(module: String) -> LinearLayer {
        get {
            switch module {
            case "q_proj": return q
            case "k_proj": return k
            case "v_proj": return v
            case "o_proj": return o
            case "gate_proj": return gate
            case "up_proj": return up
            case "down_proj": return down
            default: preconditionFailure("unknown linear module \(module)")
            }
        }
        set {
            switch module {
            case "q_proj": q = newValue
            case "k_proj": k = newValue
            case "v_proj": v = newValue
            case "o_proj": o = newValue
            case "gate_proj": gate = newValue
            case "up_proj": up = newValue
            case "down_proj": down = newValue
            default: preconditionFailure("unknown linear module \(module)")
            }
        }
    }
}

/// A Llama-2 decoder (`LlamaForCausalLM` in fp32): token embedding, L blocks, final RMSNorm, and
/// the output projection (tied to the embedding or separate).
public final class LlamaModel {
    /// The shape.
    public let config: LlamaConfig
    /// The token embedding [V, D].
    public let embedding: Tensor
    /// The decoder layers.
    public let blocks: [TransformerBlock]
    /// The final RMSNorm weight [D].
    public let finalNorm: Tensor
    /// The output projection [V, D]; the embedding itself when tied.
    public let outputWeight: Tensor

    /// A model from its parts.
    public init(config: LlamaConfig, embedding: Tensor, blocks: [TransformerBlock], finalNorm: Tensor,
                outputWeight: Tensor) {
        (self.config, self.embedding, self.blocks) = (config, embedding, blocks)
        (self.finalNorm, self.outputWeight) = (finalNorm, outputWeight)
    }

    /// Reads every tensor of `source` (checked first: names and shapes) into a frozen model, one
    /// tensor at a time; `makeLinear(layer, module, weight)` turns each decoder linear's fp32
    /// weight into its layer (by default a frozen fp32 `Linear`), so a quantizing builder never
    /// holds more than one fp32 matrix.
    public convenience init(checkpoint source: CheckpointSource,
                            makeLinear: (Int, String, Tensor) throws -> LinearLayer = { Linear(weight: $2) }) throws {
        try LlamaTensorNames.validate(source)
        let c = source.config
        func load(_ name: String) throws -> Tensor {
            Tensor(try source.floats(name), shape: source.shape(of: name)!)
        }
        var blocks: [TransformerBlock] = []
        for layer in 0..<c.layers {
            func linear(_ module: String) throws -> LinearLayer {
                try makeLinear(layer, module, try load(LlamaTensorNames.linear(module, layer: layer) + ".weight"))
            }
            blocks.append(TransformerBlock(
                attentionNorm: try load("model.layers.\(layer).input_layernorm.weight"),
                mlpNorm: try load("model.layers.\(layer).post_attention_layernorm.weight"),
                q: try linear("q_proj"), k: try linear("k_proj"), v: try linear("v_proj"), o: try linear("o_proj"),
                gate: try linear("gate_proj"), up: try linear("up_proj"), down: try linear("down_proj")))
        }
        let embedding = try load("model.embed_tokens.weight")
        self.init(config: c, embedding: embedding, blocks: blocks, finalNorm: try load("model.norm.weight"),
                  outputWeight: c.tiedEmbeddings ? embedding : try load("lm_head.weight"))
    }

    // MARK: - Training path (autograd)

    /// Logits for a batch of token rows: `tokens` [B·T] → [B, T, V], recording gradients for
    /// every trainable tensor (or, with `recording: false`, recording nothing: evaluation).
    /// With `checkpointing`, each block keeps only its input and is recomputed in backward.
    public func logits(tokens: [Int32], batch: Int, steps: Int, recording: Bool = true,
                       checkpointing: Bool = false) -> Tensor {
        precondition(tokens.count == batch * steps, "logits: \(tokens.count) tokens for [\(batch), \(steps)]")
        let rotary = RotaryTable(headDim: config.headDim, positions: steps, offset: 0, theta: config.ropeTheta)
        var x = embedding.embedding(tokens, idsShape: [batch, steps])  // [B, T, D]
        for block in blocks {
            if recording && checkpointing {
                x = checkpointed(block, x, rotary: rotary)
            } else {
                x = forward(block, x, rotary: rotary, recording: recording)
            }
        }
        return x.rmsNorm(weight: finalNorm, eps: config.normEps).matmul(outputWeight, transposeOther: true)
    }

    /// One decoder block: x [B, T, D] → [B, T, D].
    func forward(_ block: TransformerBlock, _ x: Tensor, rotary: RotaryTable, recording: Bool) -> Tensor {
        let c = config
        let (batch, steps) = (x.shape[0], x.shape[1])
        func linear(_ layer: LinearLayer, _ x: Tensor) -> Tensor { recording ? layer(x) : layer.infer(x) }
        let h = x.rmsNorm(weight: block.attentionNorm, eps: c.normEps)
        let q = linear(block.q, h).reshaped([batch, steps, c.heads, c.headDim]).rope(rotary)
        let k = linear(block.k, h).reshaped([batch, steps, c.kvHeads, c.headDim]).rope(rotary)
        let v = linear(block.v, h).reshaped([batch, steps, c.kvHeads, c.headDim])
        let attended = q.causalAttention(key: k, value: v).reshaped([batch, steps, c.dim])
        let y = x + linear(block.o, attended)
        let m = y.rmsNorm(weight: block.mlpNorm, eps: c.normEps)
        return y + linear(block.down, linear(block.gate, m).swiGLU(up: linear(block.up, m)))
    }

    /// Activation checkpointing of one block: the forward runs on a constant copy of x and its
    /// graph is dropped at once; one node remembers only x, and its backward recomputes the block
    /// (with the same dropout masks) and backpropagates through it.
    /// reference: torch.utils.checkpoint (recompute in backward)
    func checkpointed(_ block: TransformerBlock, _ x: Tensor, rotary: RotaryTable) -> Tensor {
        let dropoutStates = block.loraLayers.map(\.dropoutRNG)
        let output = forward(block, x.detached(), rotary: rotary, recording: true).data
        let parameters = block.trainableParameters
        return Tape.record("checkpointedBlock", data: output, shape: x.shape, inputs: [x] + parameters) { [self] dy, inputs in
            for (layer, state) in zip(block.loraLayers, dropoutStates) { layer.dropoutRNG = state }
            let input = Tensor(inputs[0].data, shape: inputs[0].shape, requiresGrad: true)
            forward(block, input, rotary: rotary, recording: true).backward(seed: Array(dy))
            inputs[0].addGrad(input.grad!)
        }
    }

    /// The mean next-token loss in the Hugging Face convention: `labels` [B·T] aligned with
    /// `tokens`; the logits at t predict `labels[t+1]`; `-100` labels are ignored → [].
    public func loss(tokens: [Int32], labels: [Int32], batch: Int, steps: Int, recording: Bool = true,
                     checkpointing: Bool = false) -> Tensor {
        precondition(labels.count == tokens.count, "loss: \(labels.count) labels for \(tokens.count) tokens")
        var targets = [Int32](repeating: Tensor.ignoreIndex, count: labels.count)
        for b in 0..<batch {
            for t in 0..<(steps - 1) { targets[b * steps + t] = labels[b * steps + t + 1] }
        }
        return logits(tokens: tokens, batch: batch, steps: steps, recording: recording, checkpointing: checkpointing)
            .crossEntropy(targets: targets)
    }

    /// Every trainable tensor, by its PEFT name (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
    public var trainableParameters: [(name: String, tensor: Tensor)] {
        var result: [(String, Tensor)] = []
        for (layer, block) in blocks.enumerated() {
            for module in LlamaTensorNames.linearModules {
                for (name, tensor) in block[module].trainableParameters {
                    result.append(("base_model.model." + LlamaTensorNames.linear(module, layer: layer) + ".\(name).weight", tensor))
                }
            }
        }
        return result
    }
}
