import Autograd
import LoRA

/// One decoder layer: pre-norm attention and pre-norm SwiGLU MLP, each with a residual. The same
/// block serves training, perplexity, prompt prefill and batched decoding; only the attention
/// back end differs (`AttentionBackend`).
public final class TransformerBlock {
    /// RMSNorm weights [D] before attention and before the MLP.
    public let attentionNorm: Tensor, mlpNorm: Tensor
    /// The seven linears, replaceable by quantized or LoRA-wrapped layers.
    public var q: LinearLayer, k: LinearLayer, v: LinearLayer, o: LinearLayer
    /// The MLP linears.
    public var gate: LinearLayer, up: LinearLayer, down: LinearLayer
    /// The biases [out] of q, k and v (Qwen2), frozen: part of the base, added after the
    /// projections (and their adapters), as PEFT leaves a base layer's bias.
    public var qkvBias: [Tensor]? = nil

    /// A block from its parts.
    public init(
        attentionNorm: Tensor, mlpNorm: Tensor, q: LinearLayer, k: LinearLayer, v: LinearLayer,
        o: LinearLayer, gate: LinearLayer, up: LinearLayer, down: LinearLayer
    ) {
        (self.attentionNorm, self.mlpNorm) = (attentionNorm, mlpNorm)
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// The LoRA-wrapped linears of this block.
    public var loraLayers: [LoRALinear] { LinearModule.allCases.compactMap { self[$0] as? LoRALinear } }

    /// The trainable tensors of this block's linears.
    public var trainableParameters: [Tensor] {
        LinearModule.allCases.flatMap { self[$0].trainableParameters.map(\.tensor) }
    }

    /// The bias of `module`, if it has one.
    public func bias(_ module: LinearModule) -> Tensor? {
        guard let qkvBias else { return nil }
        switch module {
        case .q: return qkvBias[0]
        case .k: return qkvBias[1]
        case .v: return qkvBias[2]
        default: return nil
        }
    }

    /// The linear of module `module`.
    public subscript(module: LinearModule) -> LinearLayer {
        get {
            switch module {
            case .q: return q
            case .k: return k
            case .v: return v
            case .o: return o
            case .gate: return gate
            case .up: return up
            case .down: return down
            }
        }
        set {
            switch module {
            case .q: q = newValue
            case .k: k = newValue
            case .v: v = newValue
            case .o: o = newValue
            case .gate: gate = newValue
            case .up: up = newValue
            case .down: down = newValue
            }
        }
    }

    /// The block: x [B, T, D] → [B, T, D]. `recording` puts the linears on the tape (training);
    /// otherwise they run their inference path. `attention` supplies positions and past keys.
    ///
    /// Recording, the block keeps for backward only what is expensive to compute again: the norm
    /// outputs (h, m) and the SwiGLU product are released once their linears have run, and
    /// backward recomputes them from the saved inputs (selective recomputation, Korthikanti et al.
    /// 2022, "Reducing Activation Recomputation in Large Transformer Models"): 3·[N, D] + [N, F]
    /// floats less per layer, for two elementwise passes. In bf16 training the gate and up outputs
    /// SwiGLU's backward reads are kept as bf16 (`compressToBF16`, as autocast keeps them): [N, F]
    /// floats less again. Every product by a frozen weight runs in `execution.compute`.
    func forward(
        _ x: Tensor, layer: Int, attention: AttentionBackend, config c: LlamaConfig, recording: Bool,
        execution: ExecutionOptions
    ) -> Tensor {
        let (batch, steps) = (x.shape[0], x.shape[1])
        let compute = execution.compute
        // Inference runs layers sharing an input together (one parallel region when decoding).
        func linears(_ layers: [LinearLayer], _ x: Tensor) -> [Tensor] {
            recording
                ? layers.map { $0(x, compute: compute) }
                : SharedInputInference.infer(layers, x, compute: compute, shared: execution.sharedInference)
        }
        let h = x.rmsNorm(weight: attentionNorm, eps: c.normEps)
        var qkv = linears([self.q, self.k, self.v], h)
        if let qkvBias { qkv = zip(qkv, qkvBias).map { $0 + $1 } }
        let q = qkv[0].reshaped([batch, steps, c.heads, c.headDim])
        let k = qkv[1].reshaped([batch, steps, c.kvHeads, c.headDim])
        let v = qkv[2].reshaped([batch, steps, c.kvHeads, c.headDim])
        if recording { h.releaseValues() }
        // [B, T, D]
        let attended = attention.attend(query: q, key: k, value: v, layer: layer, config: c, compute: compute)
        let y =
            recording
            ? o(attended, adding: x, compute: compute)
            : x + o.infer(attended, compute: compute, shared: execution.sharedInference)
        let m = y.rmsNorm(weight: mlpNorm, eps: c.normEps)
        let gateUp = linears([gate, up], m)
        let (gated, upped) = (gateUp[0], gateUp[1])
        let activated = gated.swiGLU(up: upped)
        if recording { m.releaseValues() }
        if recording && BLAS.effective(compute) == .bf16 { gated.compressToBF16(); upped.compressToBF16() }
        guard recording else { return y + down.infer(activated, compute: compute, shared: execution.sharedInference) }
        defer { activated.releaseValues() }
        return down(activated, adding: y, compute: compute)
    }
}
