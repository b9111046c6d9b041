import Foundation

// MARK: - Causal self-attention with grouped-query heads, fused (scores, mask, softmax, sum).
// reference: transformers LlamaAttention (eager), FlashAttention-2 backward (recompute from the
// row log-sum-exp instead of storing the [T, T] probabilities)

extension Tensor {
    /// softmax(q·kᵀ/√Dh + causal mask)·v per head, where query head h reads key/value head
    /// `h / (H / Hkv)`.
    /// - Parameters: `self` = q [B, T, H, Dh]; `key`, `value` [B, T, Hkv, Dh], `Hkv` divides `H`.
    /// - Returns: [B, T, H, Dh].
    public func causalAttention(key: Tensor, value: Tensor) -> Tensor {
        precondition(rank == 4 && key.rank == 4 && key.shape == value.shape
                     && key.shape[0] == shape[0] && key.shape[1] == shape[1]
                     && key.shape[3] == shape[3] && key.shape[2] > 0 && shape[2] % key.shape[2] == 0,
                     "causalAttention: q \(shape), k \(key.shape), v \(value.shape)")
        let dims = AttentionDims(batch: shape[0], steps: shape[1], heads: shape[2],
                                 kvHeads: key.shape[2], headDim: shape[3])
        var logSumExp = [Float](repeating: 0, count: dims.batch * dims.heads * dims.steps)
        let output = uninitializedFloats(count) { out in
            logSumExp.withUnsafeMutableBufferPointer { lse in
                data.withUnsafeBufferPointer { q in
                    key.data.withUnsafeBufferPointer { k in
                        value.data.withUnsafeBufferPointer { v in
                            attentionForward(dims, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!,
                                             out: SendablePointer(out.baseAddress!),
                                             logSumExp: SendablePointer(lse.baseAddress!))
                        }
                    }
                }
            }
        }
        let savedLogSumExp = logSumExp
        return Tape.record("causalAttention", data: output, shape: shape, inputs: [self, key, value]) {
            dOut, inputs, needs in
            var dq = [Float](repeating: 0, count: needs[0] ? inputs[0].count : 1)
            var dk = [Float](repeating: 0, count: needs[1] ? inputs[1].count : 1)
            var dv = [Float](repeating: 0, count: needs[2] ? inputs[2].count : 1)
            inputs[0].data.withUnsafeBufferPointer { q in
                inputs[1].data.withUnsafeBufferPointer { k in
                    inputs[2].data.withUnsafeBufferPointer { v in
                        output.withUnsafeBufferPointer { o in
                            savedLogSumExp.withUnsafeBufferPointer { lse in
                                dq.withUnsafeMutableBufferPointer { dqB in
                                    dk.withUnsafeMutableBufferPointer { dkB in
                                        dv.withUnsafeMutableBufferPointer { dvB in
                                            attentionBackward(
                                                dims, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!,
                                                out: o.baseAddress!, logSumExp: lse.baseAddress!,
                                                dOut: dOut.baseAddress!, dq: SendablePointer(dqB.baseAddress!),
                                                dk: SendablePointer(dkB.baseAddress!), dv: SendablePointer(dvB.baseAddress!),
                                                needs: (needs[0], needs[1], needs[2]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if needs[0] { inputs[0].addGrad(dq) }
            if needs[1] { inputs[1].addGrad(dk) }
            if needs[2] { inputs[2].addGrad(dv) }
        }
    }
}

/// The sizes of one attention call: B, T, H, Hkv, Dh.
struct AttentionDims {
    let batch: Int, steps: Int, heads: Int, kvHeads: Int, headDim: Int
    var scale: Float { 1 / Float(headDim).squareRoot() }
    var group: Int { heads / kvHeads }
    var qRowStride: Int { heads * headDim }
    var kvRowStride: Int { kvHeads * headDim }
    /// Offset of query head h of batch b at t = 0 in a [B, T, H, Dh] buffer.
    func qOffset(_ b: Int, _ h: Int) -> Int { b * steps * qRowStride + h * headDim }
    /// Offset of key/value head g of batch b at t = 0 in a [B, T, Hkv, Dh] buffer.
    func kvOffset(_ b: Int, _ g: Int) -> Int { b * steps * kvRowStride + g * headDim }
}

/// Forward over all (b, h): P = causal softmax(scale·Q·Kᵀ), O = P·V; saves log Σ exp per row.
private func attentionForward(
    _ d: AttentionDims, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: SendablePointer<Float>, logSumExp: SendablePointer<Float>
) {
    let t = d.steps
    Parallel.forEach(d.batch * d.heads, costPerItem: 2 * t * t * d.headDim) { range in
        var scores = [Float](repeating: 0, count: t * t)
        scores.withUnsafeMutableBufferPointer { s in
            for item in range {
                let (b, h) = (item / d.heads, item % d.heads)
                let qp = q + d.qOffset(b, h), kp = k + d.kvOffset(b, h / d.group)
                BLAS.sgemm(transposeA: false, transposeB: true, m: t, n: t, k: d.headDim,
                           alpha: d.scale, a: qp, lda: d.qRowStride, b: kp, ldb: d.kvRowStride,
                           c: s.baseAddress!, ldc: t, autocast: true)
                for i in 0..<t {  // row i attends to keys 0...i
                    let row = s.baseAddress! + i * t
                    logSumExp.pointer[item * t + i] = softmaxRow(row, into: row, count: i + 1)
                    for j in (i + 1)..<t { row[j] = 0 }
                }
                BLAS.sgemm(transposeA: false, transposeB: false, m: t, n: d.headDim, k: t,
                           a: s.baseAddress!, lda: t, b: v + d.kvOffset(b, h / d.group), ldb: d.kvRowStride,
                           c: out.pointer + d.qOffset(b, h), ldc: d.qRowStride, autocast: true)
            }
        }
    }
}

/// Backward over all (b, g) key/value heads and the query heads that read them:
/// dV += Pᵀ·dO, dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O)), dQ = scale·dS·K, dK += scale·dSᵀ·Q.
private func attentionBackward(
    _ d: AttentionDims, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
    dq: SendablePointer<Float>, dk: SendablePointer<Float>, dv: SendablePointer<Float>,
    needs: (q: Bool, k: Bool, v: Bool)
) {
    let t = d.steps
    Parallel.forEach(d.batch * d.kvHeads, costPerItem: 8 * d.group * t * t * d.headDim) { range in
        var probabilities = [Float](repeating: 0, count: t * t), dScores = probabilities
        var rowDot = [Float](repeating: 0, count: t)
        for item in range {
            let (b, g) = (item / d.kvHeads, item % d.kvHeads)
            let kp = k + d.kvOffset(b, g), vp = v + d.kvOffset(b, g)
            for h in (g * d.group)..<((g + 1) * d.group) {
                let qp = q + d.qOffset(b, h), op = out + d.qOffset(b, h), dop = dOut + d.qOffset(b, h)
                let lse = logSumExp + (b * d.heads + h) * t
                probabilities.withUnsafeMutableBufferPointer { p in
                    dScores.withUnsafeMutableBufferPointer { ds in
                        let (pp, dsp) = (p.baseAddress!, ds.baseAddress!)
                        BLAS.sgemm(transposeA: false, transposeB: true, m: t, n: t, k: d.headDim,
                                   alpha: d.scale, a: qp, lda: d.qRowStride, b: kp, ldb: d.kvRowStride,
                                   c: pp, ldc: t, autocast: true)
                        for i in 0..<t {
                            let row = pp + i * t
                            _ = RowKernels.expSum(row, count: i + 1, shift: lse[i], writingTo: row)
                            for j in (i + 1)..<t { row[j] = 0 }
                            var dot: Float = 0
                            for e in 0..<d.headDim { dot += dop[i * d.qRowStride + e] * op[i * d.qRowStride + e] }
                            rowDot[i] = dot
                        }
                        if needs.v {
                            BLAS.sgemm(transposeA: true, transposeB: false, m: t, n: d.headDim, k: t,
                                       a: pp, lda: t, b: dop, ldb: d.qRowStride, beta: 1,
                                       c: dv.pointer + d.kvOffset(b, g), ldc: d.kvRowStride, autocast: true)
                        }
                        guard needs.q || needs.k else { return }
                        BLAS.sgemm(transposeA: false, transposeB: true, m: t, n: t, k: d.headDim,
                                   a: dop, lda: d.qRowStride, b: vp, ldb: d.kvRowStride, c: dsp, ldc: t, autocast: true)
                        for i in 0..<t {
                            for j in 0...i { dsp[i * t + j] = pp[i * t + j] * (dsp[i * t + j] - rowDot[i]) }
                            for j in (i + 1)..<t { dsp[i * t + j] = 0 }
                        }
                        if needs.q {
                            BLAS.sgemm(transposeA: false, transposeB: false, m: t, n: d.headDim, k: t,
                                       alpha: d.scale, a: dsp, lda: t, b: kp, ldb: d.kvRowStride, beta: 1,
                                       c: dq.pointer + d.qOffset(b, h), ldc: d.qRowStride, autocast: true)
                        }
                        if needs.k {
                            BLAS.sgemm(transposeA: true, transposeB: false, m: t, n: d.headDim, k: t,
                                       alpha: d.scale, a: dsp, lda: t, b: qp, ldb: d.qRowStride, beta: 1,
                                       c: dk.pointer + d.kvOffset(b, g), ldc: d.kvRowStride, autocast: true)
                        }
                    }
                }
            }
        }
    }
}
