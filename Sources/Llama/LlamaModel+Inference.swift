import Autograd
import Foundation
import LoRA

/// Keys and values of the positions a sequence has seen, per layer: [capacity, Hkv·Dh] each.
public final class KVCache {
    /// The most positions it holds.
    public let capacity: Int
    /// The positions filled so far (the position of the next token).
    public internal(set) var length = 0
    var keys: [[Float]], values: [[Float]]

    /// An empty cache for `config` and up to `capacity` positions.
    public init(config: LlamaConfig, capacity: Int) {
        self.capacity = capacity
        keys = Array(repeating: [Float](repeating: 0, count: capacity * config.kvDim), count: config.layers)
        values = keys
    }

    /// Forgets every position.
    public func reset() { length = 0 }
}

extension LlamaModel {
    /// The inference path (no tape): feeds `tokens` of one sequence at positions
    /// `cache.length...`, appends their keys and values to `cache`, and returns the logits of every
    /// new position ([n, V], row-major) or of the last one only ([V]).
    public func forward(tokens: [Int32], cache: KVCache, allLogits: Bool = false) -> [Float] {
        let c = config
        let (n, start) = (tokens.count, cache.length)
        precondition(n > 0 && start + n <= cache.capacity,
                     "forward: \(n) tokens at position \(start) overflow a cache of \(cache.capacity)")
        var x = Tensor(embedding.detached().embedding(tokens, idsShape: [n]).data, shape: [n, c.dim])
        for (layer, block) in blocks.enumerated() {
            let h = x.rmsNorm(weight: block.attentionNorm.detached(), eps: c.normEps)
            let q = block.q.infer(h).reshaped([1, n, c.heads, c.headDim]).rope(offset: start, theta: c.ropeTheta)
            let k = block.k.infer(h).reshaped([1, n, c.kvHeads, c.headDim]).rope(offset: start, theta: c.ropeTheta)
            let v = block.v.infer(h)
            cache.keys[layer].replaceSubrange((start * c.kvDim)..<((start + n) * c.kvDim), with: k.data)
            cache.values[layer].replaceSubrange((start * c.kvDim)..<((start + n) * c.kvDim), with: v.data)
            let attended = attendCached(queries: q.data, count: n, start: start,
                                        keys: cache.keys[layer], values: cache.values[layer])
            x = x + block.o.infer(Tensor(attended, shape: [n, c.dim]))
            let m = x.rmsNorm(weight: block.mlpNorm.detached(), eps: c.normEps)
            x = x + block.down.infer(block.gate.infer(m).swiGLU(up: block.up.infer(m)))
        }
        cache.length = start + n
        let rows = allLogits ? x : Tensor(Array(x.data.suffix(c.dim)), shape: [1, c.dim])
        let normed = rows.rmsNorm(weight: finalNorm.detached(), eps: c.normEps)
        return Linear(weight: outputWeight.detached()).infer(normed).data
    }

    /// Causal attention of `count` new queries [n, H·Dh] at positions `start...` over the cached
    /// keys and values [start + n, Hkv·Dh] → [n, H·Dh].
    func attendCached(queries: [Float], count n: Int, start: Int, keys: [Float], values: [Float]) -> [Float] {
        let c = config
        let (dh, kvDim, group) = (c.headDim, c.kvDim, c.heads / c.kvHeads)
        let scale = 1 / Float(dh).squareRoot()
        var out = [Float](repeating: 0, count: n * c.dim)
        queries.withUnsafeBufferPointer { q in
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    out.withUnsafeMutableBufferPointer { o in
                        let outP = SendablePointer(o.baseAddress!)
                        Parallel.forEach(c.heads, costPerItem: 4 * n * (start + n) * dh) { heads in
                            var scores = [Float](repeating: 0, count: start + n)
                            for h in heads {
                                let g = h / group
                                for i in 0..<n {
                                    let visible = start + i + 1
                                    let qi = q.baseAddress! + i * c.dim + h * dh
                                    for j in 0..<visible {
                                        let kj = k.baseAddress! + j * kvDim + g * dh
                                        var dot: Float = 0
                                        for e in 0..<dh { dot += qi[e] * kj[e] }
                                        scores[j] = dot * scale
                                    }
                                    scores.withUnsafeMutableBufferPointer { s in
                                        _ = softmaxRow(s.baseAddress!, into: s.baseAddress!, count: visible)
                                    }
                                    let oi = outP.pointer + i * c.dim + h * dh
                                    for j in 0..<visible {
                                        let vj = v.baseAddress! + j * kvDim + g * dh
                                        let p = scores[j]
                                        for e in 0..<dh { oi[e] += p * vj[e] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
