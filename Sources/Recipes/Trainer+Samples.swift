import Autograd
import ChatTemplates
import Foundation
import Llama
import Tokenizers
import Training

/// `eval.samples`: a few prompts answered greedily at every evaluation, so a user sees what the
/// model says as it trains (and whether it stops at its end of turn).
extension Trainer {
    /// The samples' prompt ids: through the chat template in a chat run (its generation prompt),
    /// else the text after BOS (a conversation's turns joined by newlines).
    /// - Throws: `TrainingError.invalidValue` naming the sample the template refuses.
    static func samplePrompts(_ config: RunConfig, file: String, tokenizer: any Tokenizer, chat: ChatEncoder?) throws
        -> [[Int32]]
    {
        try config.eval.samples.enumerated().map { index, sample in
            guard let chat else {
                return try tokenizer.encode(sample.messages.map(\.content).joined(separator: "\n"), addBOS: true)
            }
            do {
                return try chat.prompt(sample.messages)
            } catch let refusal as ChatEncoder.Refusal {
                throw TrainingError.invalidValue(file: file, key: "eval.samples[\(index)]", detail: "\(refusal)")
            }
        }
    }

    /// The greedy answers to the samples now, as records of `step`.
    func answerSamples(step: Int) throws -> [SampleRecord] {
        guard !samplePrompts.isEmpty else { return [] }
        let stops = chat?.stopTokens ?? tokenizer.endOfSequenceStops
        var rng = RandomState(seed: config.training.seed).split("samples")
        let limit = config.eval.sampleMaxTokens
        let outputs = try model.generateBatch(
            prompts: samplePrompts, maxNewTokens: limit, rng: &rng, stopTokens: stops, execution: execution)
        return try zip(samplePrompts, outputs).enumerated().map { index, pair in
            SampleRecord(
                step: step, index: index, prompt: try tokenizer.decode(pair.0), output: try tokenizer.decode(pair.1),
                stopped: pair.1.count < limit)
        }
    }
}
