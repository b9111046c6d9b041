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
        probabilities.withUnsafeMutableBufferPointer { _ = softmaxRow($0.baseAddress!, into: $0.baseAddress!, count: $0.count) }
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
    /// Generates up to `maxNewTokens` tokens after `prompt` with a KV cache, stopping at
    /// `stopTokens`; calls `onToken` with each new token (return false to stop).
    /// - Returns: the new tokens (without the prompt).
    public func generate(prompt: [Int32], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                         rng: inout RandomState, stopTokens: Set<Int32> = [],
                         onToken: (Int32) -> Bool = { _ in true }) -> [Int32] {
        precondition(!prompt.isEmpty, "generate: empty prompt (start with BOS)")
        let capacity = min(prompt.count + maxNewTokens, max(config.maxSequenceLength, prompt.count + 1))
        let cache = KVCache(config: config, capacity: capacity)
        var logits = forward(tokens: prompt, cache: cache)
        var generated: [Int32] = []
        while generated.count < maxNewTokens {
            let next = sampling.sample(logits, rng: &rng)
            if stopTokens.contains(next) { break }
            generated.append(next)
            if !onToken(next) || cache.length >= cache.capacity { break }
            logits = forward(tokens: [next], cache: cache)
        }
        return generated
    }
}
