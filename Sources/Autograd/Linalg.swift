import COpenBLAS
import Foundation

/// Dense linear algebra on row-major Float32 matrices through OpenBLAS's LAPACK: the truncated
/// SVD that LoftQ needs, exact (`sgesdd`) or randomized.
public enum Linalg {
    /// A truncated SVD `M ≈ U·diag(S)·Vᵀ`: U [m, k], S [k] descending, Vᵀ [k, n], row-major.
    public struct SVD {
        public var u: [Float], s: [Float], vt: [Float]
        /// m, n and the kept rank k.
        public let m: Int, n: Int, k: Int
    }

    /// The exact SVD of `matrix` [m, n] (LAPACK `sgesdd`), truncated to the top `rank` values.
    public static func svd(_ matrix: [Float], rows m: Int, columns n: Int, rank: Int) throws -> SVD {
        precondition(matrix.count == m * n && rank >= 1, "svd: \(matrix.count) values for [\(m), \(n)], rank \(rank)")
        // Row-major M [m, n] is column-major Mᵀ [n, m]; LAPACK's U of Mᵀ is our Vᵀ and its Vᵀ our U.
        let k = min(m, n)
        var a = matrix
        var s = [Float](repeating: 0, count: k)
        var lapackU = [Float](repeating: 0, count: n * k)  // → our Vᵀ [k, n]
        var lapackVT = [Float](repeating: 0, count: k * m)  // → our U [m, k]
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var (rowsL, colsL, lda, ldu, ldvt) = (Int32(n), Int32(m), Int32(n), Int32(n), Int32(k))
        var info: Int32 = 0
        var lwork: Int32 = -1
        var query: Float = 0
        var job = Int8(UInt8(ascii: "S"))
        sgesdd_(&job, &rowsL, &colsL, &a, &lda, &s, &lapackU, &ldu, &lapackVT, &ldvt, &query, &lwork, &iwork, &info)
        lwork = Int32(query) + 1
        var work = [Float](repeating: 0, count: Int(lwork))
        sgesdd_(&job, &rowsL, &colsL, &a, &lda, &s, &lapackU, &ldu, &lapackVT, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else { throw LinalgError.lapackFailed(routine: "sgesdd", info: Int(info), rows: m, columns: n) }
        return truncate(SVD(u: lapackVT, s: s, vt: lapackU, m: m, n: n, k: k), to: rank)
    }

    /// A randomized truncated SVD (range finder with `powerIterations` subspace iterations and
    /// `oversample` extra columns, then an exact SVD of the small projected matrix).
    /// reference: Halko, Martinsson & Tropp (2011), Algorithms 4.4 and 5.1
    public static func randomizedSVD(
        _ matrix: [Float], rows m: Int, columns n: Int, rank: Int,
        oversample: Int = 10, powerIterations: Int = 3,
        rng: inout RandomState
    ) throws -> SVD {
        let width = min(rank + oversample, min(m, n))
        let omega = rng.normal(count: n * width)
        var q = try orthonormalColumns(product(matrix, omega, m: m, k: n, n: width), rows: m, columns: width)
        for _ in 0..<powerIterations {
            let z = try orthonormalColumns(
                product(matrix, q, m: n, k: m, n: width, transposeA: true), rows: n, columns: width)
            q = try orthonormalColumns(product(matrix, z, m: m, k: n, n: width), rows: m, columns: width)
        }
        let small = product(q, matrix, m: width, k: m, n: n, transposeA: true)  // Qᵀ M [width, n]
        let inner = try svd(small, rows: width, columns: n, rank: width)
        let u = product(q, inner.u, m: m, k: width, n: inner.k)  // Q Ũ [m, width]
        return truncate(SVD(u: u, s: inner.s, vt: inner.vt, m: m, n: n, k: inner.k), to: rank)
    }

    /// Keeps the top `rank` singular triplets.
    static func truncate(_ full: SVD, to rank: Int) -> SVD {
        let r = min(rank, full.k)
        if r == full.k { return full }
        var u = [Float](repeating: 0, count: full.m * r)
        for i in 0..<full.m { for j in 0..<r { u[i * r + j] = full.u[i * full.k + j] } }
        return SVD(u: u, s: Array(full.s.prefix(r)), vt: Array(full.vt.prefix(r * full.n)), m: full.m, n: full.n, k: r)
    }

    /// `op(A)·B` for row-major A ([m, k], or [k, m] when `transposeA`) and B [k, n] → [m, n].
    public static func product(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int, transposeA: Bool = false) -> [Float]
    {
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.sgemm(
                        transposeA: transposeA, transposeB: false, m: m, n: n, k: k,
                        a: ap.baseAddress!, lda: transposeA ? m : k, b: bp.baseAddress!, ldb: n,
                        c: cp.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }

    /// An orthonormal basis of the column space of `matrix` [rows, columns] (rows ≥ columns),
    /// from a Householder QR (LAPACK `sgeqrf` + `sorgqr`), row-major [rows, columns].
    public static func orthonormalColumns(_ matrix: [Float], rows m: Int, columns n: Int) throws -> [Float] {
        precondition(m >= n, "orthonormalColumns: needs rows ≥ columns, got [\(m), \(n)]")
        var a = [Float](repeating: 0, count: m * n)  // column-major copy
        for i in 0..<m { for j in 0..<n { a[j * m + i] = matrix[i * n + j] } }
        var (mm, nn, kk, lda) = (Int32(m), Int32(n), Int32(n), Int32(m))
        var tau = [Float](repeating: 0, count: n)
        var info: Int32 = 0
        var query: Float = 0
        var lwork: Int32 = -1
        sgeqrf_(&mm, &nn, &a, &lda, &tau, &query, &lwork, &info)
        lwork = max(Int32(query), 1)
        var work = [Float](repeating: 0, count: Int(lwork))
        sgeqrf_(&mm, &nn, &a, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw LinalgError.lapackFailed(routine: "sgeqrf", info: Int(info), rows: m, columns: n) }
        lwork = -1
        sorgqr_(&mm, &nn, &kk, &a, &lda, &tau, &query, &lwork, &info)
        lwork = max(Int32(query), 1)
        work = [Float](repeating: 0, count: Int(lwork))
        sorgqr_(&mm, &nn, &kk, &a, &lda, &tau, &work, &lwork, &info)
        guard info == 0 else { throw LinalgError.lapackFailed(routine: "sorgqr", info: Int(info), rows: m, columns: n) }
        var q = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { q[i * n + j] = a[j * m + i] } }
        return q
    }
}

/// A LAPACK routine that did not converge or rejected its input (NaN or Inf values, typically).
public enum LinalgError: Error, CustomStringConvertible {
    /// `routine` returned `info ≠ 0` on a [rows, columns] matrix.
    case lapackFailed(routine: String, info: Int, rows: Int, columns: Int)

    public var description: String {
        switch self {
        case .lapackFailed(let routine, let info, let rows, let columns):
            return "LAPACK \(routine) failed (info \(info)) on a [\(rows), \(columns)] matrix; are its values finite?"
        }
    }
}
