import Autograd
import Foundation
import Llama

/// Mean next-token loss (token-weighted) and perplexity of a model on examples, without recording
/// gradients.
public enum EvaluationLoss {
    /// The result of one evaluation.
    public struct Result: Codable, Sendable {
        public let loss: Double, perplexity: Double, targets: Int, batches: Int
    }

    /// Evaluates `examples` in order, `batchSize` at a time, at most `maxBatches` (0: all), the
    /// model computing as `execution` says.
    public static func run(
        model: LlamaModel, examples: [Example], batchSize: Int, maxBatches: Int, padID: Int32,
        execution: ExecutionOptions = .fp32
    ) -> Result {
        var totalLoss = 0.0, totalTargets = 0, batches = 0
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            if maxBatches > 0 && batches >= maxBatches { break }
            let batch = Batch(Array(examples[start..<min(examples.count, start + batchSize)]), padID: padID)
            let targets = batch.targetCount
            batches += 1
            guard targets > 0 else { continue }
            StepArena.beginBatch(shape: [batch.batchSize, batch.steps])  // if a training loop keeps the arena
            let loss = model.loss(
                tokens: batch.tokens, labels: batch.labels, batch: batch.batchSize, steps: batch.steps,
                recording: false, execution: execution, segments: batch.segments)
            totalLoss += Double(loss.item) * Double(targets)
            totalTargets += targets
        }
        let mean = totalTargets > 0 ? totalLoss / Double(totalTargets) : 0
        return Result(loss: mean, perplexity: exp(mean), targets: totalTargets, batches: batches)
    }
}
