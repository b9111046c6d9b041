import COpenBLAS

/// The matrix products of Loft, all through OpenBLAS `cblas_sgemm` (row-major), and the control of
/// OpenBLAS's own threads. With `Parallel`, this is the only place that decides how many threads
/// BLAS uses: large products run on all cores from the calling thread; inside a `Parallel` region
/// BLAS is set to one thread so our loops and BLAS never oversubscribe the cores.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, with leading dimensions.
    /// - Parameters: `op(A)` is [M, K], `op(B)` is [K, N], `C` is [M, N].
    @inline(__always)
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {  // an empty sum: C = beta · C
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The OpenBLAS kernel family chosen at load time (`Haswell`, `SkylakeX`, `Prescott`, ...).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration string (version, threading, dynamic arch).
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }

    /// Runs `body` with OpenBLAS limited to `count` threads, then restores the previous count.
    public static func withThreads<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threads
        if previous == count { return try body() }
        threads = count
        defer { threads = previous }
        return try body()
    }
}
