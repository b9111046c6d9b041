import Autograd
import Foundation
import LoRA

extension LlamaModel {
    /// One decoding step for several independent sequences: `tokens[i]` is fed to the sequence of
    /// `caches[i]` at its own position `caches[i].length`. The linear layers run once over all
    /// rows; attention runs per sequence over its own cache. Returns the logits [n, V].
    public func decodeStep(tokens: [Int32], caches: [KVCache]) -> [Float] {
        let c = config
        let n = tokens.count
        precondition(n == caches.count && n > 0, "decodeStep: \(n) tokens for \(caches.count) caches")
        for cache in caches { precondition(cache.length < cache.capacity, "decodeStep: a cache of \(cache.capacity) is full") }
        let positions = caches.map(\.length)
        var x = Tensor(embedding.detached().embedding(tokens, idsShape: [n]).data, shape: [n, c.dim])
        for (layer, block) in blocks.enumerated() {
            let h = x.rmsNorm(weight: block.attentionNorm.detached(), eps: c.normEps)
            var q = block.q.infer(h).data, k = block.k.infer(h).data
            let v = block.v.infer(h).data
            for row in 0..<n {
                rotate(&q, row: row, width: c.dim, heads: c.heads, position: positions[row])
                rotate(&k, row: row, width: c.kvDim, heads: c.kvHeads, position: positions[row])
                let range = (positions[row] * c.kvDim)..<((positions[row] + 1) * c.kvDim)
                caches[row].keys[layer].replaceSubrange(range, with: k[(row * c.kvDim)..<((row + 1) * c.kvDim)])
                caches[row].values[layer].replaceSubrange(range, with: v[(row * c.kvDim)..<((row + 1) * c.kvDim)])
            }
            var attended = [Float](repeating: 0, count: n * c.dim)
            for row in 0..<n {
                let out = attendCached(queries: Array(q[(row * c.dim)..<((row + 1) * c.dim)]), count: 1, start: positions[row],
                                       keys: caches[row].keys[layer], values: caches[row].values[layer])
                attended.replaceSubrange((row * c.dim)..<((row + 1) * c.dim), with: out)
            }
            x = x + block.o.infer(Tensor(attended, shape: [n, c.dim]))
            let m = x.rmsNorm(weight: block.mlpNorm.detached(), eps: c.normEps)
            x = x + block.down.infer(block.gate.infer(m).swiGLU(up: block.up.infer(m)))
        }
        for cache in caches { cache.length += 1 }
        let normed = x.rmsNorm(weight: finalNorm.detached(), eps: c.normEps)
        return Linear(weight: outputWeight.detached()).infer(normed).data
    }

    /// RoPE (`rotate_half`) on row `row` of a [n, heads·Dh] buffer at `position`.
    private func rotate(_ values: inout [Float], row: Int, width: Int, heads: Int, position: Int) {
        let table = RotaryTable(headDim: config.headDim, positions: 1, offset: position, theta: config.ropeTheta)
        let rotated = Tensor(Array(values[(row * width)..<((row + 1) * width)]), shape: [1, 1, heads, config.headDim]).rope(table)
        values.replaceSubrange((row * width)..<((row + 1) * width), with: rotated.data)
    }

    /// Greedy or sampled generation for several prompts at once with one KV cache each; a
    /// sequence that has stopped (a stop token or `maxNewTokens`) leaves the batch and costs
    /// nothing more. Returns the new tokens of each prompt (stop token excluded).
    public func generateBatch(prompts: [[Int32]], maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(),
                              rng: inout RandomState, stopTokens: Set<Int32> = []) -> [[Int32]] {
        var outputs = [[Int32]](repeating: [], count: prompts.count)
        var caches: [KVCache] = []
        var next: [Int32] = []
        var active: [Int] = []
        for (index, prompt) in prompts.enumerated() {
            precondition(!prompt.isEmpty, "generateBatch: empty prompt \(index)")
            let cache = KVCache(config: config, capacity: prompt.count + maxNewTokens)
            let token = sampling.sample(forward(tokens: prompt, cache: cache), rng: &rng)
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
            let logits = decodeStep(tokens: active.map { next[$0] }, caches: active.map { caches[$0] })
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
