import Foundation

// MARK: - Causal self-attention with grouped-query heads, fused (RoPE, scores, mask, softmax, sum).
// reference: transformers LlamaAttention (eager), FlashAttention-2 backward (recompute from the
// row log-sum-exp instead of storing the [T, T] probabilities)

extension Tensor {
    /// softmax(q'·k'ᵀ/√Dh + causal mask)·v per head, where query head h reads key/value head
    /// `h / (H / Hkv)` and q', k' are q, k rotated by `rotary` (RoPE inside the op: neither the
    /// rotated q and k nor their gradients are ever held as tensors; without a table, q' = q).
    /// - Parameters: `self` = q [B, T, H, Dh]; `key`, `value` [B, T, Hkv, Dh], `Hkv` divides `H`;
    ///   `rotary` for T positions and Dh; the score and sum products run in `compute`;
    ///   `segments` (packed rows): row b holds sequences of these lengths (summing to T), each
    ///   attending only within itself with positions restarting at 0 (block-diagonal causal mask);
    ///   nil: one sequence a row.
    /// - Returns: [B, T, H, Dh].
    public func causalAttention(
        key: Tensor, value: Tensor, rotary: RotaryTable? = nil, compute: ComputeType = .fp32,
        segments: [[Int]]? = nil
    ) -> Tensor {
        precondition(
            rank == 4 && key.rank == 4 && key.shape == value.shape
                && key.shape[0] == shape[0] && key.shape[1] == shape[1]
                && key.shape[3] == shape[3] && key.shape[2] > 0 && shape[2] % key.shape[2] == 0,
            "causalAttention: q \(shape), k \(key.shape), v \(value.shape)")
        precondition(
            rotary.map { $0.positions == shape[1] && 2 * $0.half == shape[3] } ?? true,
            "causalAttention: rotary table for \(rotary?.positions ?? 0) positions, q \(shape)")
        precondition(
            segments.map {
                $0.count == shape[0] && $0.allSatisfy { $0.allSatisfy { $0 > 0 } && $0.reduce(0, +) == shape[1] }
            }
                ?? true,
            "causalAttention: segments \(segments ?? []) for q \(shape)")
        let dims = AttentionDims(
            batch: shape[0], steps: shape[1], heads: shape[2],
            kvHeads: key.shape[2], headDim: shape[3], rotary: rotary, compute: compute,
            segments: AttentionDims.starts(segments, batch: shape[0], steps: shape[1]))
        var logSumExp = [Float](repeating: 0, count: dims.batch * dims.heads * dims.steps)
        let output = uninitializedFloats(count) { out in
            logSumExp.withUnsafeMutableBufferPointer { lse in
                withValues { q in
                    key.withValues { k in
                        value.withValues { v in
                            attentionForward(
                                dims, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!,
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
            let dq = FloatBuffer(zeros: needs[0] ? inputs[0].count : 1)
            let dk = FloatBuffer(zeros: needs[1] ? inputs[1].count : 1)
            let dv = FloatBuffer(zeros: needs[2] ? inputs[2].count : 1)
            inputs[0].withValues { q in
                inputs[1].withValues { k in
                    inputs[2].withValues { v in
                        output.withUnsafeBufferPointer { o in
                            savedLogSumExp.withUnsafeBufferPointer { lse in
                                dq.withUnsafeMutableBufferPointer { dqB in
                                    dk.withUnsafeMutableBufferPointer { dkB in
                                        dv.withUnsafeMutableBufferPointer { dvB in
                                            attentionBackward(
                                                dims, q: q.baseAddress!, k: k.baseAddress!, v: v.baseAddress!,
                                                out: o.baseAddress!, logSumExp: lse.baseAddress!,
                                                dOut: dOut.baseAddress!, dq: SendablePointer(dqB.baseAddress!),
                                                dk: SendablePointer(dkB.baseAddress!),
                                                dv: SendablePointer(dvB.baseAddress!),
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

/// The sizes of one attention call: B, T, H, Hkv, Dh, and the RoPE table if the op rotates.
struct AttentionDims {
    let batch: Int, steps: Int, heads: Int, kvHeads: Int, headDim: Int
    let rotary: RotaryTable?
    /// The compute type of the products (bf16 inputs where asked and the kernel runs).
    let compute: ComputeType
    /// Per batch row, its sequences as (first row, length).
    let segments: [[(start: Int, length: Int)]]

    /// `lengths` per row as (start, length); one sequence of T a row when nil.
    static func starts(_ lengths: [[Int]]?, batch: Int, steps: Int) -> [[(start: Int, length: Int)]] {
        guard let lengths else { return Array(repeating: [(0, steps)], count: batch) }
        return lengths.map { row in
            var start = 0
            return row.map { length in
                defer { start += length }
                return (start, length)
            }
        }
    }
    var scale: Float { 1 / Float(headDim).squareRoot() }
    var group: Int { heads / kvHeads }
    var qRowStride: Int { heads * headDim }
    var kvRowStride: Int { kvHeads * headDim }
    /// Offset of query head h of batch b at t = 0 in a [B, T, H, Dh] buffer.
    func qOffset(_ b: Int, _ h: Int) -> Int { b * steps * qRowStride + h * headDim }
    /// Offset of key/value head g of batch b at t = 0 in a [B, T, Hkv, Dh] buffer.
    func kvOffset(_ b: Int, _ g: Int) -> Int { b * steps * kvRowStride + g * headDim }
}

/// Forward over all (b, h): Q', K' = the head's rotated q, k as [T, Dh] scratch;
/// P = causal softmax(scale·Q'·K'ᵀ), O = P·V; saves log Σ exp per row.
private func attentionForward(
    _ d: AttentionDims, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: SendablePointer<Float>, logSumExp: SendablePointer<Float>
) {
    let (t, dh) = (d.steps, d.headDim)
    Parallel.forEach(d.batch * d.heads, costPerItem: 2 * t * t * dh) { range in
        Parallel.withThreadScratch(zeros: t * t + 2 * t * dh) { buffer in
            let (s, qs, ks) = (buffer.baseAddress!, buffer.baseAddress! + t * t, buffer.baseAddress! + t * t + t * dh)
            for item in range {
                let (b, h) = (item / d.heads, item % d.heads)
                for (start, n) in d.segments[b] {  // each sequence of the row alone, from position 0
                    let qRow = d.qOffset(b, h) + start * d.qRowStride
                    let kvRow = d.kvOffset(b, h / d.group) + start * d.kvRowStride
                    d.rotary.rotate(rows: n, width: dh, from: q + qRow, stride: d.qRowStride, into: qs)
                    d.rotary.rotate(rows: n, width: dh, from: k + kvRow, stride: d.kvRowStride, into: ks)
                    BLAS.sgemm(
                        transposeA: false, transposeB: true, m: n, n: n, k: dh,
                        alpha: d.scale, a: qs, lda: dh, b: ks, ldb: dh, c: s, ldc: n, compute: d.compute)
                    for i in 0..<n {  // row i attends to keys 0...i
                        let row = s + i * n
                        logSumExp.pointer[item * t + start + i] = softmaxRow(row, into: row, count: i + 1)
                        for j in (i + 1)..<n { row[j] = 0 }
                    }
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: n, n: dh, k: n,
                        a: s, lda: n, b: v + kvRow, ldb: d.kvRowStride,
                        c: out.pointer + qRow, ldc: d.qRowStride, compute: d.compute)
                }
            }
        }
    }
}

/// Backward over all (b, g) key/value heads and the query heads that read them, with Q', K' the
/// rotated heads as in the forward: dV += Pᵀ·dO, dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O)),
/// dQ += Rᵀ(scale·dS·K'), dK += Rᵀ(Σ_h scale·dSᵀ·Q') where Rᵀ undoes the rotation.
private func attentionBackward(
    _ d: AttentionDims, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
    dq: SendablePointer<Float>, dk: SendablePointer<Float>, dv: SendablePointer<Float>,
    needs: (q: Bool, k: Bool, v: Bool)
) {
    let (t, dh) = (d.steps, d.headDim)
    Parallel.forEach(d.batch * d.kvHeads, costPerItem: 8 * d.group * t * t * dh) { range in
        // P and dS [T, T]; Q', K', dQ' and dK' [T, Dh]; the row dots [T].
        Parallel.withThreadScratch(zeros: 2 * t * t + 4 * t * dh + t) { buffer in
            let pp = buffer.baseAddress!, dsp = pp + t * t, qs = dsp + t * t, ks = qs + t * dh
            let dqs = ks + t * dh, dks = dqs + t * dh, rowDot = dks + t * dh
            for item in range {
                let (b, g) = (item / d.kvHeads, item % d.kvHeads)
                for (start, n) in d.segments[b] {
                    attentionBackwardSegment(
                        d, b: b, g: g, start: start, n: n, q: q, k: k, v: v, out: out, logSumExp: logSumExp,
                        dOut: dOut, dq: dq, dk: dk, dv: dv, needs: needs,
                        scratch: (pp, dsp, qs, ks, dqs, dks, rowDot))
                }
            }
        }
    }
}

/// The backward of one sequence (rows `start..<start + n` of batch row b) for key/value head g and
/// the query heads that read it; `scratch` holds P, dS, Q', K', dQ', dK' and the row dots.
private func attentionBackwardSegment(
    _ d: AttentionDims, b: Int, g: Int, start: Int, n: Int,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
    dq: SendablePointer<Float>, dk: SendablePointer<Float>, dv: SendablePointer<Float>,
    needs: (q: Bool, k: Bool, v: Bool),
    scratch: (
        pp: UnsafeMutablePointer<Float>, dsp: UnsafeMutablePointer<Float>, qs: UnsafeMutablePointer<Float>,
        ks: UnsafeMutablePointer<Float>, dqs: UnsafeMutablePointer<Float>, dks: UnsafeMutablePointer<Float>,
        rowDot: UnsafeMutablePointer<Float>
    )
) {
    let (t, dh) = (d.steps, d.headDim)
    let (pp, dsp, qs, ks, dqs, dks, rowDot) = scratch
    let kvRow = d.kvOffset(b, g) + start * d.kvRowStride
    let vp = v + kvRow
    d.rotary.rotate(rows: n, width: dh, from: k + kvRow, stride: d.kvRowStride, into: ks)
    dks.update(repeating: 0, count: n * dh)
    for h in (g * d.group)..<((g + 1) * d.group) {
        let qRow = d.qOffset(b, h) + start * d.qRowStride
        let op = out + qRow, dop = dOut + qRow
        let lse = logSumExp + (b * d.heads + h) * t + start
        d.rotary.rotate(rows: n, width: dh, from: q + qRow, stride: d.qRowStride, into: qs)
        BLAS.sgemm(
            transposeA: false, transposeB: true, m: n, n: n, k: dh,
            alpha: d.scale, a: qs, lda: dh, b: ks, ldb: dh, c: pp, ldc: n, compute: d.compute)
        for i in 0..<n {
            let row = pp + i * n
            _ = RowKernels.expSum(row, count: i + 1, shift: lse[i], writingTo: row)
            for j in (i + 1)..<n { row[j] = 0 }
            var dot: Float = 0
            for e in 0..<dh { dot += dop[i * d.qRowStride + e] * op[i * d.qRowStride + e] }
            rowDot[i] = dot
        }
        if needs.v {
            BLAS.sgemm(
                transposeA: true, transposeB: false, m: n, n: dh, k: n,
                a: pp, lda: n, b: dop, ldb: d.qRowStride, beta: 1,
                c: dv.pointer + kvRow, ldc: d.kvRowStride, compute: d.compute)
        }
        guard needs.q || needs.k else { continue }
        BLAS.sgemm(
            transposeA: false, transposeB: true, m: n, n: n, k: dh,
            a: dop, lda: d.qRowStride, b: vp, ldb: d.kvRowStride, c: dsp, ldc: n, compute: d.compute)
        for i in 0..<n {
            for j in 0...i { dsp[i * n + j] = pp[i * n + j] * (dsp[i * n + j] - rowDot[i]) }
            for j in (i + 1)..<n { dsp[i * n + j] = 0 }
        }
        if needs.q {
            BLAS.sgemm(
                transposeA: false, transposeB: false, m: n, n: dh, k: n,
                alpha: d.scale, a: dsp, lda: n, b: ks, ldb: dh, c: dqs, ldc: dh, compute: d.compute)
            d.rotary.rotateBack(rows: n, width: dh, from: dqs, adding: dq.pointer + qRow, stride: d.qRowStride)
        }
        if needs.k {
            BLAS.sgemm(
                transposeA: true, transposeB: false, m: n, n: dh, k: n,
                alpha: d.scale, a: dsp, lda: n, b: qs, ldb: dh, beta: 1,
                c: dks, ldc: dh, compute: d.compute)
        }
    }
    if needs.k { d.rotary.rotateBack(rows: n, width: dh, from: dks, adding: dk.pointer + kvRow, stride: d.kvRowStride) }
}
