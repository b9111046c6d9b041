import Autograd
import Formats
import Foundation
import Llama
import LoRA

/// A model in memory read as a checkpoint: every tensor as fp32 in the `rotate_half` layout, the
/// frozen linears dequantized, and — when `merged` — each adapter folded in
/// (`W = deq(Q) + s·B·A`). What the exporters write from, whatever the format.
public final class ModelTensors: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    let model: LlamaModel
    let merged: Bool

    /// `model`'s tensors, with the adapters merged in or not.
    public init(model: LlamaModel, merged: Bool, description: String) {
        self.model = model
        self.merged = merged
        config = model.config
        sourceDescription = description
    }

    public func name(of tensor: LlamaTensor) -> String { HuggingFaceNames.name(of: tensor) }
    public func shape(of tensor: LlamaTensor) -> [Int]? { tensor.shape(in: config) }
    public var unexpectedTensorNames: [String] { [] }

    public func floats(_ tensor: LlamaTensor) throws -> [Float] {
        switch tensor {
        case .embedding: return model.embedding.data
        case .output: return model.outputWeight.data
        case .finalNorm: return model.finalNorm.data
        case .attentionNorm(let layer): return model.blocks[layer].attentionNorm.data
        case .mlpNorm(let layer): return model.blocks[layer].mlpNorm.data
        case .linear(let layer, let module): return Self.weight(of: model.blocks[layer][module], merged: merged)
        case .bias(let layer, let module):
            guard let bias = model.blocks[layer].bias(module) else {
                throw LlamaError.missingTensor(name: name(of: tensor), source: sourceDescription)
            }
            return bias.data
        }
    }

    /// The [out, in] weight of a linear: its own, dequantized, or its base with `s·B·A` added.
    static func weight(of layer: LinearLayer, merged: Bool) -> [Float] {
        switch layer {
        case let linear as Linear: return linear.weight.data
        case let quantized as QuantizedLinear: return quantized.weight.dequantized()
        case let lora as LoRALinear:
            var weight = Self.weight(of: lora.base, merged: false)
            guard merged else { return weight }
            let (out, input, rank) = (lora.outFeatures, lora.inFeatures, lora.rank)
            // W += s · B[out, R] · A[R, in], in one product
            lora.loraB.data.withUnsafeBufferPointer { b in
                lora.loraA.data.withUnsafeBufferPointer { a in
                    weight.withUnsafeMutableBufferPointer { w in
                        BLAS.sgemm(
                            transposeA: false, transposeB: false, m: out, n: input, k: rank, alpha: lora.scaling,
                            a: b.baseAddress!, lda: rank, b: a.baseAddress!, ldb: input, beta: 1, c: w.baseAddress!,
                            ldc: input)
                    }
                }
            }
            return weight
        default: preconditionFailure("unknown linear layer \(type(of: layer))")
        }
    }
}
