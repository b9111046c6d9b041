import Autograd

// MARK: - The LoRA layer as one tape node: y = base(x) + s·(drop(x)·Aᵀ)·Bᵀ written into one
// buffer (the low-rank product accumulated onto the base output by sgemm with beta = 1), so a
// training step holds neither the base output nor the update as separate [N, out] arrays, and no
// add runs forward or backward; with a residual r the buffer becomes r + y, the next residual
// stream, so a block's o and down outputs are never held either. Saved: h = drop(x)·Aᵀ [N, R]
// and the dropout mask (bits).
//
// backward, dy [N, out], s = alpha / R:
//   dB += s·dyᵀ·h            [out, R]
//   dh  = s·dy·B             [N, R]
//   dA += dhᵀ·drop(x)        [R, in]
//   dx += dy·deq(W) + (dh·A) ⊙ mask
//   dr += dy
// reference: peft LoraLayer.forward; llm.c matmul_forward/backward pairs

extension LoRALinear {
    /// The fused training forward (see the file comment): x [..., in] → [..., out], plus
    /// `residual` [..., out] when given. The base must be frozen; its input gradient comes from
    /// `accumulateInputGradient`; the base's products, forward and backward, run in `compute`.
    func fusedForward(_ x: Tensor, adding residual: Tensor? = nil, compute: ComputeType) -> Tensor {
        let (n, inF, outF, r, s) = (x.count / inFeatures, inFeatures, outFeatures, rank, scaling)
        // The mask as bits (a 32nd of a Float mask's memory): it lives until backward.
        var mask = KeepMask.none
        let keep = dropout > 0 ? 1 / (1 - dropout) : 1
        if dropout > 0, var rng = dropoutRNG {
            // The same draws, in the same order, as `Tensor.dropout` (resume and tests rely on them).
            mask = rng.keepMask(count: x.count, dropProbability: dropout)
            dropoutRNG = rng
        }
        let y = FloatBuffer(zeros: n * outF)
        let h = FloatBuffer(zeros: n * r)
        x.withValues { xs in
            y.withUnsafeMutableBufferPointer {
                base.infer(xs.baseAddress!, rows: n, into: $0.baseAddress!, compute: compute)
            }
            loraA.withValues { a in
                loraB.withValues { b in
                    h.withUnsafeMutableBufferPointer { hs in
                        Self.withDropped(xs, mask, keep) { input in
                            BLAS.sgemm(
                                transposeA: false, transposeB: true, m: n, n: r, k: inF, a: input, lda: inF,
                                b: a.baseAddress!, ldb: inF, c: hs.baseAddress!, ldc: r)
                        }
                        y.withUnsafeMutableBufferPointer { ys in
                            BLAS.sgemm(
                                transposeA: false, transposeB: true, m: n, n: outF, k: r, alpha: s, a: hs.baseAddress!,
                                lda: r,
                                b: b.baseAddress!, ldb: r, beta: 1, c: ys.baseAddress!, ldc: outF)
                        }
                    }
                }
            }
        }
        let shape = Array(x.shape.dropLast()) + [outF]
        if let residual { Self.add(residual, into: y, shape: shape) }
        let frozen = base
        return Tape.record(
            "loraLinear", data: y, shape: shape, inputs: [x, loraA, loraB] + (residual.map { [$0] } ?? [])
        ) {
            dy, inputs, needs in
            let (xT, aT, bT) = (inputs[0], inputs[1], inputs[2])
            if inputs.count == 4 && needs[3] { inputs[3].addGrad(dy) }
            if needs[2] {
                bT.accumulateGrad { db in
                    h.withUnsafeBufferPointer { hs in
                        BLAS.sgemm(
                            transposeA: true, transposeB: false, m: outF, n: r, k: n, alpha: s, a: dy.baseAddress!,
                            lda: outF,
                            b: hs.baseAddress!, ldb: r, beta: 1, c: db.baseAddress!, ldc: r)
                    }
                }
            }
            guard needs[0] || needs[1] else { return }
            let dh = FloatBuffer(uninitialized: n * r)
            bT.withValues { b in
                dh.withUnsafeMutableBufferPointer { d in
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: n, n: r, k: outF, alpha: s, a: dy.baseAddress!,
                        lda: outF,
                        b: b.baseAddress!, ldb: r, c: d.baseAddress!, ldc: r)
                }
            }
            if needs[1] {
                xT.withValues { xs in
                    aT.accumulateGrad { da in
                        dh.withUnsafeBufferPointer { d in
                            Self.withDropped(xs, mask, keep) { input in
                                BLAS.sgemm(
                                    transposeA: true, transposeB: false, m: r, n: inF, k: n, a: d.baseAddress!, lda: r,
                                    b: input, ldb: inF, beta: 1, c: da.baseAddress!, ldc: inF)
                            }
                        }
                    }
                }
            }
            if needs[0] {
                xT.accumulateGrad { dx in
                    frozen.accumulateInputGradient(dy.baseAddress!, rows: n, into: dx.baseAddress!, compute: compute)
                    aT.withValues { a in
                        dh.withUnsafeBufferPointer { d in
                            if mask.isEmpty {
                                BLAS.sgemm(
                                    transposeA: false, transposeB: false, m: n, n: inF, k: r, a: d.baseAddress!, lda: r,
                                    b: a.baseAddress!, ldb: inF, beta: 1, c: dx.baseAddress!, ldc: inF)
                            } else {
                                let through = FloatBuffer(uninitialized: n * inF)
                                through.withUnsafeMutableBufferPointer { t in
                                    BLAS.sgemm(
                                        transposeA: false, transposeB: false, m: n, n: inF, k: r, a: d.baseAddress!,
                                        lda: r,
                                        b: a.baseAddress!, ldb: inF, c: t.baseAddress!, ldc: inF)
                                }
                                let dxP = SendablePointer(dx.baseAddress!)
                                through.withUnsafeBufferPointer { t in
                                    Parallel.forEach(n, costPerItem: 2 * inF) { rows in
                                        mask.accumulate(
                                            t.baseAddress!, scale: keep, into: dxP.pointer,
                                            range: (rows.lowerBound * inF)..<(rows.upperBound * inF))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// y += residual (same count), on both cores.
    static func add(_ residual: Tensor, into y: FloatBuffer, shape: [Int]) {
        precondition(residual.shape == shape, "LoRA linear: residual \(residual.shape) for output \(shape)")
        let width = shape.last ?? 1
        y.withUnsafeMutableBufferPointer { ys in
            let out = SendablePointer(ys.baseAddress!)
            residual.withValues { r in
                Parallel.forEach(ys.count / width, costPerItem: width) { rows in
                    for i in (rows.lowerBound * width)..<(rows.upperBound * width) { out.pointer[i] += r[i] }
                }
            }
        }
    }

    /// Calls `body` with `x ⊙ mask · keep` (a temporary; dropped inputs are `x · 0`, as a Float
    /// mask gave), or with `x` itself when there is no mask.
    @inline(__always)
    static func withDropped(
        _ x: UnsafeBufferPointer<Float>, _ mask: KeepMask, _ keep: Float, _ body: (UnsafePointer<Float>) -> Void
    ) {
        if mask.isEmpty { return body(x.baseAddress!) }
        let dropped = uninitializedFloats(x.count) { buffer in
            let out = SendablePointer(buffer.baseAddress!)
            Parallel.forEach(x.count / 1024 + 1, costPerItem: 2048) { blocks in
                mask.apply(
                    x.baseAddress!, scale: keep, into: out.pointer,
                    range: (blocks.lowerBound * 1024)..<min(x.count, blocks.upperBound * 1024))
            }
        }
        dropped.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
