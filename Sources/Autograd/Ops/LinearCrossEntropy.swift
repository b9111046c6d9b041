import Foundation

// MARK: - The output projection fused with cross-entropy, in row chunks: logits = h·Wᵀ and their
// gradient exist only for one chunk of rows at a time (C·V floats instead of N·V, twice). The
// gradient is computed during the forward, chunk by chunk, and the backward only scales it.
// reference: Liger-Kernel fused_linear_cross_entropy (Hsu et al. 2024); torchtune chunked CE

/// The chunked product + softmax kernel shared by the training op and perplexity.
public enum LinearCrossEntropy {
    /// Rows per chunk for a vocabulary of `vocab`: about 8M floats (32 MB) of logits — 2M when the
    /// gradient goes through the bf16 kernel (`packedOnce`), whose operands are packed once for all
    /// chunks, so that smaller chunks cost no time and take 24 MB of logits and 12 MB of packed
    /// gradient off a training step's peak (sgemm repacks the projection per call and wants large
    /// chunks) — at least 16 rows, and never more than the rows there are.
    public static func chunkRows(vocab: Int, rows: Int, packedOnce: Bool = false) -> Int {
        max(1, min(rows, max(16, (packedOnce ? 2_097_152 : 8_388_608) / max(1, vocab))))
    }

    /// For hidden rows `h` [N, D] and `w` [V, D]: each row's NLL `lse(h·wᵀ) − (h·wᵀ)[target]` into
    /// `nll` [N] (0 for ignored rows) and, when `dh` is given, the unscaled gradient
    /// `(softmax − onehot(target))·w` of each counted row into `dh` [N, D] (ignored rows get 0),
    /// and when `dw` is given, `Σ (softmax − onehot)ᵀ·h` added to `dw` [V, D]. `chunk` overrides
    /// the rows per chunk (tests). The products by `w` (frozen) run in `compute`.
    public static func run(
        h: UnsafePointer<Float>, rows n: Int, w: UnsafePointer<Float>, vocab v: Int, dim d: Int,
        targets: [Int32], ignoreIndex: Int32, nll: UnsafeMutablePointer<Float>,
        dh: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?, chunk: Int? = nil,
        compute: ComputeType = .fp32
    ) {
        guard n > 0 else { return }
        let bf16 = BLAS.usesBF16Kernel(compute)
        let step = max(1, min(n, chunk ?? chunkRows(vocab: v, rows: n, packedOnce: bf16 && dh != nil)))
        let logitsBuffer = FloatBuffer(uninitialized: step * v)
        let logits = logitsBuffer.baseAddress
        defer { withExtendedLifetime(logitsBuffer) {} }
        let (logitsP, nllP) = (SendablePointer(logits), SendablePointer(nll))
        // In bf16, the frozen projection is packed once for all chunks (once per layout), not once per chunk.
        let packedW = bf16 ? BF16PackedOperand(left: false, w, ld: d, transposed: true, rows: v, depth: d) : nil
        let packedWForDh =
            bf16 && dh != nil ? BF16PackedOperand(left: false, w, ld: d, transposed: false, rows: d, depth: v) : nil
        for start in stride(from: 0, to: n, by: step) {
            let c = min(step, n - start)
            if let packedW,
                let packedH = BF16PackedOperand(left: true, h + start * d, ld: d, transposed: false, rows: c, depth: d)
            {
                BLAS.bf16gemm(packedA: packedH, packedB: packedW, c: logits, ldc: v)
            } else {
                BLAS.sgemm(
                    transposeA: false, transposeB: true, m: c, n: v, k: d, a: h + start * d, lda: d, b: w, ldb: d,
                    c: logits, ldc: v)
            }
            let wantsGrad = dh != nil || dw != nil
            targets.withUnsafeBufferPointer { t in
                Parallel.forEach(c, costPerItem: 8 * v) { range in
                    for local in range {
                        let row = logitsP.pointer + local * v
                        let target = t[start + local]
                        guard target != ignoreIndex else {
                            nllP.pointer[start + local] = 0
                            if wantsGrad { row.update(repeating: 0, count: v) }
                            continue
                        }
                        let targetLogit = row[Int(target)]
                        let peak = RowKernels.max(row, count: v)
                        let total = RowKernels.expSum(row, count: v, shift: peak, writingTo: wantsGrad ? row : nil)
                        if wantsGrad {
                            let inverse = Float(1 / total)
                            for j in 0..<v { row[j] *= inverse }
                            row[Int(target)] -= 1
                        }
                        nllP.pointer[start + local] = peak + Float(log(total)) - targetLogit
                    }
                }
            }
            if let dh {
                if let packedWForDh,
                    let packedGrad = BF16PackedOperand(left: true, logits, ld: v, transposed: false, rows: c, depth: v)
                {
                    BLAS.bf16gemm(packedA: packedGrad, packedB: packedWForDh, c: dh + start * d, ldc: d)
                } else {
                    BLAS.sgemm(
                        transposeA: false, transposeB: false, m: c, n: d, k: v, a: logits, lda: v, b: w, ldb: d,
                        c: dh + start * d, ldc: d)
                }
            }
            if let dw {
                BLAS.sgemm(
                    transposeA: true, transposeB: false, m: v, n: d, k: c, a: logits, lda: v, b: h + start * d, ldb: d,
                    beta: 1, c: dw, ldc: d)
            }
        }
    }
}

extension Tensor {
    /// Mean cross-entropy of the logits `self · weightᵀ` (self [..., D], weight [V, D]) against
    /// `targets` (one per row, `ignoreIndex` rows not counted) → [], without holding the logits:
    /// equal to `matmul(weight, transposeOther: true).crossEntropy(targets:)`. `chunkRows`
    /// overrides the rows per chunk (tests); the products by a frozen `weight` run in `compute`.
    public func linearCrossEntropy(
        weight: Tensor, targets: [Int32], ignoreIndex: Int32 = Tensor.ignoreIndex,
        chunkRows: Int? = nil, compute: ComputeType = .fp32
    ) -> Tensor {
        let (v, d) = (weight.shape[0], weight.shape.count == 2 ? weight.shape[1] : 0)
        precondition(
            weight.rank == 2 && shape.last == d, "linearCrossEntropy: hidden \(shape) with weight \(weight.shape)")
        let n = count / max(d, 1)
        precondition(targets.count == n, "linearCrossEntropy: \(targets.count) targets for \(n) rows")
        for target in targets where target != ignoreIndex {
            precondition(target >= 0 && Int(target) < v, "linearCrossEntropy: target \(target) outside 0..<\(v)")
        }
        let counted = targets.filter { $0 != ignoreIndex }.count
        let (needsHidden, needsWeight) = (requiresGrad, weight.requiresGrad)
        let nll = FloatBuffer(zeros: n)
        let dh = FloatBuffer(zeros: needsHidden ? n * d : 0)
        let dw = FloatBuffer(zeros: needsWeight ? v * d : 0)
        withValues { h in
            weight.withValues { w in
                nll.withUnsafeMutableBufferPointer { nllB in
                    dh.withUnsafeMutableBufferPointer { dhB in
                        dw.withUnsafeMutableBufferPointer { dwB in
                            LinearCrossEntropy.run(
                                h: h.baseAddress!, rows: n, w: w.baseAddress!, vocab: v, dim: d, targets: targets,
                                ignoreIndex: ignoreIndex, nll: nllB.baseAddress!,
                                dh: needsHidden ? dhB.baseAddress! : nil, dw: needsWeight ? dwB.baseAddress! : nil,
                                chunk: chunkRows, compute: compute)
                        }
                    }
                }
            }
        }
        var total: Double = 0
        nll.withUnsafeBufferPointer { for value in $0 { total += Double(value) } }
        let loss = counted == 0 ? 0 : Float(total / Double(counted))
        return Tape.record("linearCrossEntropy", data: [loss], shape: [], inputs: [self, weight]) { dy, inputs, needs in
            guard counted > 0 else { return }
            let scale = dy[0] / Float(counted)
            for (index, gradient) in [(0, dh), (1, dw)] where needs[index] {
                gradient.withUnsafeMutableBufferPointer { g in
                    let p = SendablePointer(g.baseAddress!)
                    Parallel.forEach(g.count, costPerItem: 1) { range in for i in range { p.pointer[i] *= scale } }
                }
                inputs[index].addGrad(gradient)  // taken as is when the input has no gradient yet
            }
        }
    }
}
