import Autograd

/// How a decoder block's attention gets its positions and its past keys and values; the block
/// itself is the same for every use.
public enum AttentionBackend {
    /// B rows of T tokens from position 0, attending within themselves: RoPE with `table` and the
    /// fused causal attention op, on the tape (training, perplexity). With `segments`, row b holds
    /// packed sequences of those lengths, each attending within itself from position 0.
    case causal(RotaryTable, segments: [[Int]]? = nil)
    /// T new tokens of one sequence (B = 1) at positions `cache.length...`, attending over the
    /// cache, into which their keys and values are appended (prompt prefill, one-by-one decoding);
    /// RoPE's table for those positions, built once for all layers (`cached(_:steps:config:)`).
    case cached(KVCache, RotaryTable)
    /// One new token (T = 1) for each of B sequences, row b at its own position
    /// `caches[b].length` and over its own cache (batched decoding); a RoPE table per sequence.
    case decoding([KVCache], [RotaryTable])

    /// `.cached` for `steps` new tokens at the cache's position.
    static func cached(_ cache: KVCache, steps: Int, config c: LlamaConfig) -> AttentionBackend {
        .cached(
            cache,
            RotaryTable(
                inverseFrequency: c.ropeInverseFrequencies(length: cache.length + steps), positions: steps,
                offset: cache.length))
    }

    /// `.decoding` for one new token per cache, each at its cache's position.
    static func decoding(_ caches: [KVCache], config c: LlamaConfig) -> AttentionBackend {
        .decoding(
            caches,
            caches.map { cache in
                RotaryTable(
                    inverseFrequency: c.ropeInverseFrequencies(length: cache.length + 1), positions: 1,
                    offset: cache.length)
            })
    }

    /// Attention of one layer: q [B, T, H, Dh], k and v [B, T, Hkv, Dh] (before RoPE) → [B, T, D].
    /// The causal op's products run in `compute`.
    func attend(
        query q: Tensor, key k: Tensor, value v: Tensor, layer: Int, config c: LlamaConfig,
        compute: ComputeType
    ) -> Tensor {
        let (batch, steps) = (q.shape[0], q.shape[1])
        switch self {
        case .causal(let table, let segments):
            return q.causalAttention(key: k, value: v, rotary: table, compute: compute, segments: segments)
                .reshaped([batch, steps, c.qDim])
        case .cached(let cache, let table):
            precondition(batch == 1 && table.positions == steps, "cached attention: one sequence, got \(q.shape)")
            let start = cache.length
            let rotatedQ = q.rope(table), rotatedK = k.rope(table)
            cache.store(
                layer: layer, position: start, count: steps, width: c.kvDim,
                keys: rotatedK.data[...], values: v.data[...])
            let out = attendCached(
                queries: rotatedQ.data, count: steps, start: start,
                keys: cache.keys[layer], values: cache.values[layer], config: c)
            return Tensor(out, shape: [1, steps, c.qDim])
        case .decoding(let caches, let tables):
            precondition(
                steps == 1 && batch == caches.count && tables.count == batch,
                "decoding attention: \(q.shape) for \(caches.count) caches")
            var queries = q.data, keys = k.data
            var attended = [Float](repeating: 0, count: batch * c.qDim)
            for row in 0..<batch {
                let position = caches[row].length
                rotate(&queries, row: row, width: c.qDim, heads: c.heads, table: tables[row], headDim: c.headDim)
                rotate(&keys, row: row, width: c.kvDim, heads: c.kvHeads, table: tables[row], headDim: c.headDim)
                let kv = (row * c.kvDim)..<((row + 1) * c.kvDim)
                caches[row].store(
                    layer: layer, position: position, count: 1, width: c.kvDim, keys: keys[kv], values: v.data[kv])
                let out = attendCached(
                    queries: Array(queries[(row * c.qDim)..<((row + 1) * c.qDim)]), count: 1, start: position,
                    keys: caches[row].keys[layer], values: caches[row].values[layer], config: c)
                attended.replaceSubrange((row * c.qDim)..<((row + 1) * c.qDim), with: out)
            }
            return Tensor(attended, shape: [batch, 1, c.qDim])
        }
    }

    /// Marks the new positions as filled once every layer has stored them.
    func advance(by steps: Int) {
        switch self {
        case .causal: break
        case .cached(let cache, _): cache.length += steps
        case .decoding(let caches, _): for cache in caches { cache.length += 1 }
        }
    }

    /// RoPE (`rotate_half`) on row `row` of a [n, heads·Dh] buffer with a one-position `table`, in place.
    private func rotate(_ values: inout [Float], row: Int, width: Int, heads: Int, table: RotaryTable, headDim: Int) {
        values.withUnsafeMutableBufferPointer { v in
            for h in 0..<heads {
                let head = v.baseAddress! + row * width + h * headDim
                table.rotate(rows: 1, from: head, stride: headDim, into: head, stride: headDim)
            }
        }
    }
}

/// Causal attention of `count` new queries [n, H·Dh] at positions `start...` over the cached
/// keys and values [start + n, Hkv·Dh] → [n, H·Dh].
func attendCached(queries: [Float], count n: Int, start: Int, keys: [Float], values: [Float], config c: LlamaConfig)
    -> [Float]
{
    let (dh, kvDim, group) = (c.headDim, c.kvDim, c.heads / c.kvHeads)
    let scale = 1 / Float(dh).squareRoot()
    var out = [Float](repeating: 0, count: n * c.qDim)
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
                                let qi = q.baseAddress! + i * c.qDim + h * dh
                                scores.withUnsafeMutableBufferPointer { s in
                                    // scale · q·kⱼ for every visible key: the keys of group g are rows of a
                                    // [positions, Dh] matrix of leading dimension Hkv·Dh (a dot product a row,
                                    // in SIMD).
                                    RowKernels.denseRows(
                                        k.baseAddress! + g * dh, ldw: kvDim, in: dh, outputs: 0..<visible, x: qi,
                                        ldx: dh, batch: 1, alpha: scale, y: s.baseAddress!, ldy: visible)
                                    _ = softmaxRow(s.baseAddress!, into: s.baseAddress!, count: visible)
                                }
                                let oi = outP.pointer + i * c.qDim + h * dh
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
