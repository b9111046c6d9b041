import COpenBLAS

extension Linalg {
    /// The eigendecomposition `M = V·diag(λ)·Vᵀ` of a symmetric matrix [n, n] in Double.
    public struct SymmetricEigen {
        /// The eigenvalues, ascending.
        public var values: [Double]
        /// The eigenvectors as rows: `vectors[i·n ..< (i+1)·n]` is the vector of `values[i]`.
        public var vectors: [Double]
        public let n: Int

        /// `V·diag(f(k))·Vᵀ` [n, n]: a function of the matrix (its square root, inverse root, …),
        /// one BLAS product.
        public func composed(_ f: (Int) -> Double) -> [Double] {
            var weighted = vectors  // row k: f(k)·v_k
            for k in 0..<n {
                let factor = f(k)
                for j in 0..<n { weighted[k * n + j] *= factor }
            }
            var out = [Double](repeating: 0, count: n * n)
            vectors.withUnsafeBufferPointer { v in
                weighted.withUnsafeBufferPointer { w in
                    out.withUnsafeMutableBufferPointer { o in
                        cblas_dgemm(
                            CblasRowMajor, CblasTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, v.baseAddress,
                            Int32(n), w.baseAddress, Int32(n), 0, o.baseAddress, Int32(n))
                    }
                }
            }
            return out
        }
    }

    /// Eigenvalues and eigenvectors of the symmetric `matrix` [n, n] (LAPACK `dsyevd`; only one
    /// triangle is read, and a symmetric matrix is the same in either layout).
    public static func symmetricEigen(_ matrix: [Double], n: Int) throws -> SymmetricEigen {
        precondition(matrix.count == n * n && n >= 1, "symmetricEigen: \(matrix.count) values for [\(n), \(n)]")
        var a = matrix  // column-major on return: column i is vector i → row i of our row-major Vᵀ
        var w = [Double](repeating: 0, count: n)
        var (size, lda) = (Int32(n), Int32(n))
        var (jobz, uplo) = (Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "U")))
        var info: Int32 = 0
        var (lwork, liwork): (Int32, Int32) = (-1, -1)
        var workQuery = 0.0
        var iworkQuery: Int32 = 0
        dsyevd_(&jobz, &uplo, &size, &a, &lda, &w, &workQuery, &lwork, &iworkQuery, &liwork, &info)
        (lwork, liwork) = (Int32(workQuery) + 1, max(iworkQuery, 1))
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &size, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { throw LinalgError.lapackFailed(routine: "dsyevd", info: Int(info), rows: n, columns: n) }
        return SymmetricEigen(values: w, vectors: a, n: n)
    }
}
