// MARK: - Matrix products (forward and backward), all through cblas_sgemm.

extension Tensor {
    /// The matrix product `op(self) · op(other)`, where `op` optionally transposes the last two
    /// dimensions.
    ///
    /// Two forms:
    /// - `other` 2-D: `self` [..., M, K] · `other` [K, N] → [..., M, N] (leading dimensions of
    ///   `self` are folded into M; `transposeSelf` then needs `self` 2-D). `x.matmul(w,
    ///   transposeOther: true)` with `w` [out, in] is the linear layer `x · wᵀ`.
    /// - batched: `self` [..., M, K] · `other` [..., K, N] with equal leading dimensions.
    /// `scale` multiplies the product (folded into sgemm's alpha, forward and backward).
    public func matmul(
        _ other: Tensor, transposeSelf: Bool = false,
        transposeOther: Bool = false, scale: Float = 1
    ) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul: \(shape) × \(other.shape)")
        let batched = other.rank > 2
        if batched {
            precondition(
                rank == other.rank && shape.dropLast(2) == other.shape.dropLast(2),
                "matmul: batch dimensions differ: \(shape) × \(other.shape)")
        } else {
            precondition(
                !transposeSelf || rank == 2,
                "matmul: transposeSelf needs a 2-D left operand: \(shape) × \(other.shape)")
        }
        let (r0, r1) = (shape[rank - 2], shape[rank - 1])
        let (o0, o1) = (other.shape[other.rank - 2], other.shape[other.rank - 1])
        let batch = batched ? shape.dropLast(2).product : 1
        let m = batched ? (transposeSelf ? r1 : r0) : (transposeSelf ? r1 : count / r1)
        let k = transposeSelf ? r0 : r1
        let (kOther, n) = transposeOther ? (o1, o0) : (o0, o1)
        let describe = { (shape: [Int], transposed: Bool) in "\(shape)" + (transposed ? "ᵀ" : "") }
        precondition(
            k == kOther,
            "matmul: inner dimensions differ: \(describe(shape, transposeSelf)) × \(describe(other.shape, transposeOther))"
        )
        let outShape =
            batched || transposeSelf
            ? Array(shape.dropLast(2)) + [m, n] : Array(shape.dropLast()) + [n]
        let (aStride, bStride, cStride) = (batched ? m * k : 0, batched ? k * n : 0, m * n)
        let (lda, ldb) = (r1, o1)

        let result = uninitializedFloats(batch * m * n) { c in
            withValues { a in
                other.withValues { b in
                    for i in 0..<batch {
                        BLAS.sgemm(
                            transposeA: transposeSelf, transposeB: transposeOther,
                            m: m, n: n, k: k, alpha: scale, a: a.baseAddress! + i * aStride, lda: lda,
                            b: b.baseAddress! + i * bStride, ldb: ldb,
                            c: c.baseAddress! + i * cStride, ldc: n)
                    }
                }
            }
        }
        let (tA, tB) = (transposeSelf, transposeOther)
        return Tape.record("matmul", data: result, shape: outShape, inputs: [self, other]) {
            dc, inputs, needs in
            let (lhs, rhs) = (inputs[0], inputs[1])
            for i in 0..<batch {
                let dcI = dc.baseAddress! + i * cStride
                if needs[0] {
                    rhs.withValues { b in
                        lhs.accumulateGrad { da in
                            let bI = b.baseAddress! + i * bStride, daI = da.baseAddress! + i * aStride
                            if tA {  // A [K, M]: dA = op(B) · dCᵀ
                                BLAS.sgemm(
                                    transposeA: tB, transposeB: true, m: k, n: m, k: n,
                                    alpha: scale, a: bI, lda: ldb, b: dcI, ldb: n, beta: 1, c: daI, ldc: lda)
                            } else {  // A [M, K]: dA = dC · op(B)ᵀ
                                BLAS.sgemm(
                                    transposeA: false, transposeB: !tB, m: m, n: k, k: n,
                                    alpha: scale, a: dcI, lda: n, b: bI, ldb: ldb, beta: 1, c: daI, ldc: lda)
                            }
                        }
                    }
                }
                if needs[1] {
                    lhs.withValues { a in
                        rhs.accumulateGrad { db in
                            let aI = a.baseAddress! + i * aStride, dbI = db.baseAddress! + i * bStride
                            if tB {  // B [N, K]: dB = dCᵀ · op(A)
                                BLAS.sgemm(
                                    transposeA: true, transposeB: tA, m: n, n: k, k: m,
                                    alpha: scale, a: dcI, lda: n, b: aI, ldb: lda, beta: 1, c: dbI, ldc: ldb)
                            } else {  // B [K, N]: dB = op(A)ᵀ · dC
                                BLAS.sgemm(
                                    transposeA: !tA, transposeB: false, m: k, n: n, k: m,
                                    alpha: scale, a: aI, lda: lda, b: dcI, ldb: n, beta: 1, c: dbI, ldc: ldb)
                            }
                        }
                    }
                }
            }
        }
    }
}
