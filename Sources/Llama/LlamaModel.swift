import Autograd
import Foundation
import LoRA

/// A Llama decoder (`LlamaForCausalLM` in fp32): token embedding, L blocks, final RMSNorm, and
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
    public init(
        config: LlamaConfig, embedding: Tensor, blocks: [TransformerBlock], finalNorm: Tensor,
        outputWeight: Tensor
    ) {
        (self.config, self.embedding, self.blocks) = (config, embedding, blocks)
        (self.finalNorm, self.outputWeight) = (finalNorm, outputWeight)
    }

    /// Reads every tensor of `source` (checked first: names and shapes) into a frozen model, one
    /// tensor at a time; `makeLinear(layer, module, weight)` turns each decoder linear's fp32
    /// weight into its layer (by default a frozen fp32 `Linear`), so a quantizing builder never
    /// holds more than one fp32 matrix. A linear the source stores quantized (a `loft quantize`
    /// folder) becomes a frozen `QuantizedLinear` as it is.
    public convenience init(
        checkpoint source: CheckpointSource,
        makeLinear: (Int, LinearModule, Tensor) throws -> LinearLayer = { Linear(weight: $2) }
    ) throws {
        try source.validate()
        let c = source.config
        var blocks: [TransformerBlock] = []
        for layer in 0..<c.layers {
            func linear(_ module: LinearModule) throws -> LinearLayer {
                if let packed = try source.quantizedLinear(layer: layer, module: module) {
                    return QuantizedLinear(weight: packed)
                }
                return try makeLinear(layer, module, try source.tensor(.linear(layer: layer, module)))
            }
            let block = TransformerBlock(
                attentionNorm: try source.tensor(.attentionNorm(layer: layer)),
                mlpNorm: try source.tensor(.mlpNorm(layer: layer)),
                q: try linear(.q), k: try linear(.k), v: try linear(.v), o: try linear(.o),
                gate: try linear(.gate), up: try linear(.up), down: try linear(.down))
            if c.family.hasQKVBias {
                block.qkvBias = try [LinearModule.q, .k, .v].map { try source.tensor(.bias(layer: layer, $0)) }
            }
            blocks.append(block)
        }
        let embedding = try source.tensor(.embedding)
        self.init(
            config: c, embedding: embedding, blocks: blocks, finalNorm: try source.tensor(.finalNorm),
            outputWeight: c.tiedEmbeddings ? embedding : try source.tensor(.output))
    }

    /// The first token id outside the vocabulary, if any (ids reaching the embedding must be valid).
    public func firstInvalidToken(_ tokens: [Int32]) -> Int32? {
        tokens.first { $0 < 0 || Int($0) >= config.vocabularySize }
    }

    // MARK: - Training path (autograd)

    /// Logits for a batch of token rows: `tokens` [B·T] → [B, T, V], recording gradients for
    /// every trainable tensor (or, with `recording: false`, recording nothing: evaluation).
    /// With `checkpointing`, each block keeps only its input and is recomputed in backward. The
    /// blocks compute as `execution` says; the output projection here stays fp32.
    public func logits(
        tokens: [Int32], batch: Int, steps: Int, recording: Bool = true,
        checkpointing: Bool = false, execution: ExecutionOptions = .fp32, segments: [[Int]]? = nil
    ) -> Tensor {
        hidden(
            tokens: tokens, batch: batch, steps: steps, recording: recording, checkpointing: checkpointing,
            execution: execution, segments: segments
        )
        .matmul(outputWeight, transposeOther: true)
    }

    /// The final-normed hidden states [B, T, D] the output projection reads (see `logits`);
    /// `segments`: the lengths of the sequences packed in each row (see `AttentionBackend.causal`).
    public func hidden(
        tokens: [Int32], batch: Int, steps: Int, recording: Bool = true,
        checkpointing: Bool = false, execution: ExecutionOptions = .fp32, segments: [[Int]]? = nil
    ) -> Tensor {
        precondition(tokens.count == batch * steps, "logits: \(tokens.count) tokens for [\(batch), \(steps)]")
        let attention = AttentionBackend.causal(
            RotaryTable(inverseFrequency: config.ropeInverseFrequencies(length: steps), positions: steps, offset: 0),
            segments: segments)
        var x = embedding.embedding(tokens, idsShape: [batch, steps])  // [B, T, D]
        for (layer, block) in blocks.enumerated() {
            if recording && checkpointing {
                x = checkpointed(block, layer: layer, x, attention: attention, execution: execution)
            } else {
                x = block.forward(
                    x, layer: layer, attention: attention, config: config, recording: recording, execution: execution)
            }
        }
        return x.rmsNorm(weight: finalNorm, eps: config.normEps)
    }

    /// Activation checkpointing of one block: the forward runs on a constant copy of x and its
    /// graph is dropped at once; one node remembers only x, and its backward recomputes the block
    /// (with the same dropout masks) and backpropagates through it.
    /// reference: torch.utils.checkpoint (recompute in backward)
    func checkpointed(
        _ block: TransformerBlock, layer: Int, _ x: Tensor, attention: AttentionBackend,
        execution: ExecutionOptions
    ) -> Tensor {
        let dropoutStates = block.loraLayers.map(\.dropoutRNG)
        let output = block.forward(
            x.detached(), layer: layer, attention: attention, config: config, recording: true,
            execution: execution
        ).valuesBuffer
        let parameters = block.trainableParameters
        return Tape.record("checkpointedBlock", data: output, shape: x.shape, inputs: [x] + parameters) {
            [self] dy, inputs, needs in
            for (lora, state) in zip(block.loraLayers, dropoutStates) { lora.dropoutRNG = state }
            let input = Tensor(
                inputs[0].withValues { FloatBuffer(copying: $0) }, shape: inputs[0].shape, requiresGrad: true)
            block.forward(
                input, layer: layer, attention: attention, config: config, recording: true, execution: execution
            )
            .backward(seed: dy)
            if needs[0] { input.withStoredGrad { inputs[0].addGrad($0) } }
        }
    }

    /// The mean next-token loss in the Hugging Face convention: `labels` [B·T] aligned with
    /// `tokens`; the logits at t predict `labels[t+1]`; `-100` labels are ignored → []. The output
    /// projection and the loss run fused in row chunks (`linearCrossEntropy`): the [B·T, V] logits
    /// are never held. The blocks and the projection compute as `execution` says.
    public func loss(
        tokens: [Int32], labels: [Int32], batch: Int, steps: Int, recording: Bool = true,
        checkpointing: Bool = false, execution: ExecutionOptions = .fp32, segments: [[Int]]? = nil
    ) -> Tensor {
        precondition(labels.count == tokens.count, "loss: \(labels.count) labels for \(tokens.count) tokens")
        var targets = [Int32](repeating: Tensor.ignoreIndex, count: labels.count)
        for b in 0..<batch {
            for t in 0..<(steps - 1) { targets[b * steps + t] = labels[b * steps + t + 1] }
        }
        return hidden(
            tokens: tokens, batch: batch, steps: steps, recording: recording, checkpointing: checkpointing,
            execution: execution, segments: segments
        )
        .linearCrossEntropy(weight: outputWeight, targets: targets, compute: execution.compute)
    }

    /// Every trainable tensor with its id (layer, module, `lora_A`/`lora_B`), in layer and module order.
    public var trainableParameters: [(id: ParameterID, tensor: Tensor)] {
        var result: [(ParameterID, Tensor)] = []
        for (layer, block) in blocks.enumerated() {
            for module in LinearModule.allCases {
                for (name, tensor) in block[module].trainableParameters {
                    result.append((ParameterID(layer: layer, module: module, name: name), tensor))
                }
            }
        }
        return result
    }

    // MARK: - Inference path (no tape, KV caches)

    /// Feeds `tokens` of one sequence at positions `cache.length...`, appends their keys and
    /// values to `cache`, and returns the logits of every new position ([n, V], row-major) or of
    /// the last one only ([V]). The products compute as `execution` says.
    public func forward(tokens: [Int32], cache: KVCache, allLogits: Bool = false, execution: ExecutionOptions = .fp32)
        -> [Float]
    {
        let n = tokens.count
        precondition(
            n > 0 && cache.length + n <= cache.capacity,
            "forward: \(n) tokens at position \(cache.length) overflow a cache of \(cache.capacity)")
        let x = inferHidden(
            tokens, batch: 1, steps: n, attention: .cached(cache, steps: n, config: config), execution: execution)
        let rows = allLogits ? x : Tensor(Array(x.data.suffix(config.dim)), shape: [1, config.dim])
        return project(rows, compute: execution.compute)
    }

    /// One decoding step for several independent sequences: `tokens[i]` is fed to the sequence of
    /// `caches[i]` at its own position `caches[i].length`. The linear layers run once over all
    /// rows; attention runs per sequence over its own cache. Returns the logits [n, V].
    public func decodeStep(tokens: [Int32], caches: [KVCache], execution: ExecutionOptions = .fp32) -> [Float] {
        let n = tokens.count
        precondition(n == caches.count && n > 0, "decodeStep: \(n) tokens for \(caches.count) caches")
        for cache in caches {
            precondition(cache.length < cache.capacity, "decodeStep: a cache of \(cache.capacity) is full")
        }
        return project(
            inferHidden(tokens, batch: n, steps: 1, attention: .decoding(caches, config: config), execution: execution),
            compute: execution.compute)
    }

    /// The blocks without recording: tokens [B·T] → hidden states [B·T, D]; the caches advance.
    private func inferHidden(
        _ tokens: [Int32], batch: Int, steps: Int, attention: AttentionBackend,
        execution: ExecutionOptions
    ) -> Tensor {
        // The embedding is frozen (no tape) and read in place: a detached copy would cost V·D floats per step.
        var x = embedding.embedding(tokens, idsShape: [batch, steps])
        for (layer, block) in blocks.enumerated() {
            x = block.forward(
                x, layer: layer, attention: attention, config: config, recording: false, execution: execution)
        }
        attention.advance(by: steps)
        return x.reshaped([batch * steps, config.dim])
    }

    /// Final norm and output projection of hidden rows [n, D] → logits [n, V].
    private func project(_ rows: Tensor, compute: ComputeType) -> [Float] {
        let normed = rows.rmsNorm(weight: finalNorm, eps: config.normEps)
        let (n, v, d) = (rows.shape[0], config.vocabularySize, config.dim)
        var logits = [Float](repeating: 0, count: n * v)
        normed.withValues { x in
            outputWeight.withValues { w in
                logits.withUnsafeMutableBufferPointer { y in
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: n, n: v, k: d, a: x.baseAddress!, lda: d,
                        b: w.baseAddress!, ldb: d, c: y.baseAddress!, ldc: v, compute: compute)
                }
            }
        }
        return logits
    }
}
