import Autograd
import Foundation
import Llama
import LoRA
import Training

// One optimizer step of a run, as a function of the model, the step's examples, the run's
// random streams and the optimizer: nothing else is read or written but the trainer state's step
// counters and spike guard.
// reference: torchtune recipes (train step separate from set-up, evaluation and checkpointing)

/// The random streams of the steps: dropout masks drawn per (step, micro-batch, layer), so that
/// a resumed run draws what an uninterrupted one would have.
struct StepStreams {
    let dropoutRoot: RandomState
    /// Every adapted linear with its name (`layer.module`), in layer and module order.
    let loraLayers: [(name: String, layer: LoRALinear)]

    init(trainer: Trainer) {
        dropoutRoot = RandomState(seed: trainer.config.training.seed).split("dropout")
        loraLayers = trainer.model.blocks.enumerated().flatMap { index, block in
            LinearModule.allCases.compactMap { module in
                (block[module] as? LoRALinear).map { ("\(index).\(module.rawValue)", $0) }
            }
        }
    }
}

/// What one optimizer step did.
struct StepResult {
    /// The mean loss over every target of the global batch, and the gradient norm before clipping.
    let meanLoss: Float, gradNorm: Double
    let learningRate: Double
    /// Whether the spike guard skipped the update.
    let skipped: Bool
    /// Seconds spent summing gradients across ranks; tokens of the global batch.
    let reduceSeconds: Double, tokens: Int
}

extension Trainer {
    /// One optimizer step over `micro` (the step's global micro-batches; this rank takes its slice
    /// of each): forward and backward with the step's dropout streams, gradients summed across
    /// ranks in rank order, clipped, the spike guard, AdamW. The loss is the mean over every target
    /// of the global batch (micro-batches × ranks), so N ranks with batch B/N give the numbers of
    /// one process with batch B. Advances `state.step` and records the loss.
    func optimizerStep(_ micro: [[Example]], state: inout TrainerState, streams: StepStreams) throws -> StepResult {
        let globalTargets = Double(max(1, micro.joined().reduce(0) { $0 + $1.targetCount }))
        var localLossSum = 0.0
        for (index, examples) in micro.enumerated() {
            let mine = Self.slice(examples, rank: group.rank, of: group.size)
            guard !mine.isEmpty else { continue }
            let batch = Batch(Array(mine), padID: padID)
            StepArena.beginBatch(shape: [batch.batchSize, batch.steps])  // a new length frees the last one's buffers
            let targets = Double(batch.targetCount)
            if config.lora.dropout > 0 {
                let stream = streams.dropoutRoot.split("step-\(state.step)-micro-\(index)")
                for (name, layer) in streams.loraLayers { layer.dropoutRNG = stream.split(name) }
            }
            let loss = model.loss(
                tokens: batch.tokens, labels: batch.labels, batch: batch.batchSize, steps: batch.steps,
                checkpointing: config.training.activationCheckpointing, execution: execution, segments: batch.segments)
            localLossSum += Double(loss.item) * targets
            loss.scaled(by: Float(targets / globalTargets)).backward()
        }
        for (_, layer) in streams.loraLayers { layer.dropoutRNG = nil }
        let reduceStarted = Stopwatch.now()
        try group.sumInRankOrder(arena.grads)
        let reduceSeconds = Stopwatch.now() - reduceStarted
        let meanLoss = Float(try group.sumInRankOrder([localLossSum])[0] / globalTargets)
        guard meanLoss.isFinite else { throw TrainingError.nonFinite(step: state.step + 1, what: "the loss") }
        let t = config.training
        let norm =
            t.maxGradNorm > 0
            ? GradientClipping.clip(arena.grads, maxNorm: t.maxGradNorm)
            : GradientClipping.globalNorm(UnsafeBufferPointer(arena.grads))
        guard norm.isFinite else { throw TrainingError.nonFinite(step: state.step + 1, what: "the gradient norm") }
        let lr = schedule.learningRate(at: state.step)
        var skipped = false
        if t.skipLossZScore > 0 || t.skipGradZScore > 0 {
            var spikeGuard = state.spikeGuard ?? SpikeGuard(window: t.spikeWindow)
            skipped = spikeGuard.shouldSkip(
                loss: meanLoss, gradNorm: norm, lossBound: t.skipLossZScore, gradBound: t.skipGradZScore)
            state.spikeGuard = spikeGuard
            if skipped { state.skippedSteps = (state.skippedSteps ?? []) + [state.step + 1] }
        }
        if !skipped { optimizer.update(arena, lr: lr) }
        arena.zeroGrads()
        state.step += 1
        state.losses.append(meanLoss)
        let tokens = micro.joined().reduce(0) { $0 + $1.tokens.count }
        return StepResult(
            meanLoss: meanLoss, gradNorm: norm, learningRate: lr, skipped: skipped, reduceSeconds: reduceSeconds,
            tokens: tokens)
    }
}
