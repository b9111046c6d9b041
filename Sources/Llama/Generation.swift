import Autograd
import Foundation

/// How the next token is chosen from logits.
public struct SamplingOptions: Sendable {
    /// 0 means greedy (argmax); otherwise logits are divided by it.
    public var temperature: Float
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `topP`.
    public var topP: Float

    /// Options; greedy by default.
    public init(temperature: Float = 0, topP: Float = 1) {
        (self.temperature, self.topP) = (temperature, topP)
    }

    /// The next token for `logits` [V].
    /// reference: llama2.c run.c (sample_argmax, sample_topp)
    public func sample(_ logits: [Float], rng: inout RandomState) -> Int32 {
        if temperature <= 0 {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        var probabilities = logits.map { $0 / temperature }
        probabilities.withUnsafeMutableBufferPointer {
            _ = softmaxRow($0.baseAddress!, into: $0.baseAddress!, count: $0.count)
        }
        var candidates = Array(probabilities.indices)
        if topP < 1 {
            candidates.sort { probabilities[$0] > probabilities[$1] }
            var cumulative: Float = 0
            var keep = 0
            while keep < candidates.count {
                cumulative += probabilities[candidates[keep]]
                keep += 1
                if cumulative >= topP { break }
            }
            candidates = Array(candidates.prefix(keep))
        }
        let total = candidates.reduce(Float(0)) { $0 + probabilities[$1] }
        var threshold = rng.nextUniform() * total
        for index in candidates {
            threshold -= probabilities[index]
            if threshold < 0 { return Int32(index) }
        }
        return Int32(candidates.last!)
    }
}

extension LlamaModel {
    /// Checks a prompt before it reaches the embedding: non-empty, every id in the vocabulary.
    func validatePrompt(_ prompt: [Int32]) throws {
        guard !prompt.isEmpty else { throw LlamaError.emptyPrompt }
        if let bad = firstInvalidToken(prompt) {
            throw LlamaError.tokenOutOfRange(id: bad, vocabularySize: config.vocabularySize)
        }
    }

    /// Generates up to `maxNewTokens` tokens after `prompt` with a KV cache, stopping at
    /// `stopTokens`; calls `onToken` with each new token (return false to stop). The model
    /// computes as `execution` says.
    /// - Returns: the new tokens (without the prompt).
    /// - Throws: `LlamaError` for an empty prompt or an id outside the vocabulary.
    public func generate(
        prompt: [Int32], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
        rng: inout RandomState, stopTokens: Set<Int32> = [], execution: ExecutionOptions = .fp32,
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> [Int32] {
        try validatePrompt(prompt)
        let capacity = min(prompt.count + maxNewTokens, max(config.maxSequenceLength, prompt.count + 1))
        let cache = KVCache(config: config, capacity: capacity)
        var logits = forward(tokens: prompt, cache: cache, execution: execution)
        var generated: [Int32] = []
        while generated.count < maxNewTokens {
            let next = sampling.sample(logits, rng: &rng)
            if stopTokens.contains(next) { break }
            generated.append(next)
            if !onToken(next) || cache.length >= cache.capacity { break }
            logits = forward(tokens: [next], cache: cache, execution: execution)
        }
        return generated
    }

    /// Greedy or sampled generation for several prompts at once with one KV cache each; a
    /// sequence that has stopped (a stop token or `maxNewTokens`) leaves the batch and costs
    /// nothing more. Returns the new tokens of each prompt (stop token excluded).
    /// - Throws: `LlamaError` for an empty prompt or an id outside the vocabulary.
    public func generateBatch(
        prompts: [[Int32]], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
        rng: inout RandomState, stopTokens: Set<Int32> = [],
        execution: ExecutionOptions = .fp32
    ) throws -> [[Int32]] {
        for prompt in prompts { try validatePrompt(prompt) }
        var outputs = [[Int32]](repeating: [], count: prompts.count)
        var caches: [KVCache] = []
        var next: [Int32] = []
        var active: [Int] = []
        for (index, prompt) in prompts.enumerated() {
            let cache = KVCache(config: config, capacity: prompt.count + maxNewTokens)
            let token = sampling.sample(forward(tokens: prompt, cache: cache, execution: execution), rng: &rng)
            caches.append(cache)
            next.append(token)
            if maxNewTokens > 0 && !stopTokens.contains(token) {
                outputs[index].append(token)
                active.append(index)
            }
        }
        while !active.isEmpty {
            active = active.filter { outputs[$0].count < maxNewTokens }
            if active.isEmpty { break }
            let logits = decodeStep(
                tokens: active.map { next[$0] }, caches: active.map { caches[$0] }, execution: execution)
            let vocab = config.vocabularySize
            var stillActive: [Int] = []
            for (row, index) in active.enumerated() {
                let token = sampling.sample(Array(logits[(row * vocab)..<((row + 1) * vocab)]), rng: &rng)
                next[index] = token
                if stopTokens.contains(token) { continue }
                outputs[index].append(token)
                stillActive.append(index)
            }
            active = stillActive
        }
        return outputs
    }
}
