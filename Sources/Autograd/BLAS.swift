import CKernels
import COpenBLAS

/// The matrix products of Loft, all through OpenBLAS `cblas_sgemm` (row-major), and the control of
/// threads. OpenBLAS itself always runs single-threaded: a large product is split into row or
/// column panels that `Parallel` hands to the cores, each panel one single-threaded sgemm. So
/// there is only one thread pool, ours, and idle OpenBLAS threads never spin against our loops.
public enum BLAS {
    /// Products below this many multiply-adds run as one call (splitting would not pay).
    static let splitThreshold = 1 << 21

    nonisolated(unsafe) private static var workerLimit = Int.max  // no limit below Parallel.workerCount
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// `C = alpha · op(A) · op(B) + beta · C`, row-major, with leading dimensions, in `compute`
    /// (a product by a frozen weight takes the run's compute type; everything else stays fp32).
    /// - Parameters: `op(A)` is [M, K], `op(B)` is [K, N], `C` is [M, N].
    @inline(__always)
    public static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, compute: ComputeType = .fp32
    ) {
        if m == 0 || n == 0 { return }
        let bf16 = usesBF16Kernel(compute)
        if k == 0 {  // an empty sum: C = beta · C
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        _ = singleThreaded
        let parts = min(workerLimit, Parallel.workerCount)
        if bf16, parts > 1, !Parallel.isActive, m > 1, m * n * k >= splitThreshold,
            bf16gemmPacking(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        {
            return
        }
        guard parts > 1, !Parallel.isActive, m * n * k >= splitThreshold, max(m, n) >= 2 * parts else {
            call(bf16, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        let cP = SendablePointer(c)
        if n >= m {  // column panels: B's columns and C's columns
            Parallel.forEach(parts, costPerItem: splitThreshold) { range in
                for part in range {
                    let (j0, j1) = (n * part / parts, n * (part + 1) / parts)
                    call(
                        bf16, transposeA, transposeB, m, j1 - j0, k, alpha, a, lda,
                        transposeB ? b + j0 * ldb : b + j0, ldb, beta, cP.pointer + j0, ldc)
                }
            }
        } else {  // row panels: A's rows and C's rows
            Parallel.forEach(parts, costPerItem: splitThreshold) { range in
                for part in range {
                    let (i0, i1) = (m * part / parts, m * (part + 1) / parts)
                    call(
                        bf16, transposeA, transposeB, i1 - i0, n, k, alpha, transposeA ? a + i0 : a + i0 * lda, lda,
                        b, ldb, beta, cP.pointer + i0 * ldc, ldc)
                }
            }
        }
    }

    @inline(__always)
    private static func call(
        _ bf16: Bool, _ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        if bf16, m > 1,
            loft_gemm_bf16_on(
                1, tA ? 1 : 0, tB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda),
                b, Int64(ldb), beta, c, Int64(ldc)) != 0
        {
            return
        }
        if m == 1 {
            // One row (a decoding step): sgemv reads B once; sgemm would first copy (pack) all of it.
            cblas_sgemv(
                CblasRowMajor, tB ? CblasNoTrans : CblasTrans, Int32(tB ? n : k), Int32(tB ? k : n), alpha,
                b, Int32(ldb), a, Int32(tA ? lda : 1), beta, c, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The number of cores one large product is split across (1 … `Parallel.workerCount`).
    public static var threads: Int {
        get { min(workerLimit, Parallel.workerCount) }
        set { workerLimit = max(1, newValue) }
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
