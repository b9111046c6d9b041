import CKernels
import Foundation
import Synchronization

// MARK: - Multi-threaded bf16 products: each operand is packed once (its panels shared out among
// the cores), then the cores take disjoint column (or row) ranges of C from the packed operands.
// A weight used by several products (the output projection across the chunks of the fused
// cross-entropy) can be packed once and reused.

/// A matrix packed once into the bf16 kernel's operand layout (bf16 pairs in panels), reusable by
/// several products.
public final class BF16PackedOperand {
    /// The packed words (a buffer of `BF16Scratch`, returned to it when this operand goes).
    let words: UnsafeMutablePointer<UInt32>
    private let capacity: Int
    /// Rows of op(A), or columns of op(B); and the depth k.
    public let rows: Int, depth: Int
    /// Whether this is an A (left) or B (right) operand.
    public let isLeft: Bool

    /// Packs op(A) [rows, depth] (`left`) or op(B) [depth, rows] (right) of `x` (row-major, leading
    /// dimension `ld`; `transposed` as the product's transpose flag), panels split among the cores.
    /// Nil when the AVX512-BF16 kernel does not run here.
    public init?(left: Bool, _ x: UnsafePointer<Float>, ld: Int, transposed: Bool, rows: Int, depth: Int) {
        guard BLAS.bf16KernelAvailable else { return nil }
        let operand: Int32 = left ? 0 : 1
        let width = Int(loft_bf16_panel_width(operand))
        let count = Int(loft_bf16_panel_words(Int64(rows), Int64(depth), Int32(width)))
        (self.rows, self.depth, self.isLeft) = (rows, depth, left)
        (words, capacity) = BF16Scratch.acquire(count)
        let (out, source) = (SendablePointer(words), SendablePointer(UnsafeMutablePointer(mutating: x)))
        // The stored matrix is transposed relative to the packed rows for A when transA, for B when !transB.
        let storedTransposed: Int32 = (left ? transposed : !transposed) ? 1 : 0
        let panels = (rows + width - 1) / width
        Parallel.forEach(panels, costPerItem: 2 * width * depth) { range in
            _ = loft_bf16_pack(
                1, operand, source.pointer, Int64(ld), storedTransposed, Int64(rows), Int64(depth),
                Int64(range.lowerBound), Int64(range.upperBound), out.pointer)
        }
    }

    deinit { BF16Scratch.release(words, capacity: capacity) }
}

/// The buffers packed operands live in, kept for the next product instead of freed: the same
/// products repeat every step, so after the first step packing allocates nothing (and the heap
/// does not fragment between tens-of-megabyte buffers of varying sizes).
enum BF16Scratch {
    private static let free = Mutex<[(pointer: UnsafeMutablePointer<UInt32>, capacity: Int)]>([])

    /// A 64-byte aligned buffer of at least `count` words (the kernel loads B a cache line at a
    /// time; misaligned, every load would be split in two) and its capacity.
    static func acquire(_ count: Int) -> (UnsafeMutablePointer<UInt32>, Int) {
        let count = max(16, count)
        // The smallest free buffer that fits; else a new one.
        let kept = free.withLock { free -> (UnsafeMutablePointer<UInt32>, Int)? in
            let fitting = free.indices.filter { free[$0].capacity >= count }
            guard let index = fitting.min(by: { free[$0].capacity < free[$1].capacity }) else { return nil }
            return free.remove(at: index)
        }
        if let kept { return kept }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: 4 * count, alignment: 64).bindMemory(
            to: UInt32.self, capacity: count)
        return (pointer, count)
    }

    /// Returns a buffer for reuse.
    static func release(_ pointer: UnsafeMutablePointer<UInt32>, capacity: Int) {
        free.withLock { $0.append((pointer, capacity)) }
    }
}

extension BLAS {
    /// `C = alpha·A·B + beta·C` from packed operands (A [m, k] left, B [k, n] right), C row-major
    /// with leading dimension `ldc`, split among the cores by columns (or rows when C is narrow).
    public static func bf16gemm(
        alpha: Float = 1, packedA a: BF16PackedOperand, packedB b: BF16PackedOperand,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(
            a.isLeft && !b.isLeft && a.depth == b.depth,
            "bf16gemm: A [\(a.rows), \(a.depth)] · B [\(b.depth), \(b.rows)]")
        let (m, n, k) = (a.rows, b.rows, a.depth)
        if m == 0 || n == 0 { return }
        let (mr, nr) = (Int(loft_bf16_panel_width(0)), Int(loft_bf16_panel_width(1)))
        let cP = SendablePointer(c)
        let columnGroups = (n + nr - 1) / nr, rowGroups = (m + mr - 1) / mr
        let byColumns = columnGroups >= 2 * Parallel.workerCount || columnGroups >= rowGroups
        let groups = byColumns ? columnGroups : rowGroups
        // One contiguous share per core (not finer chunks): a core then reuses each block of A it
        // brings into its L2 across all of its columns, as a single-threaded product would.
        let parts = min(groups, BLAS.threads)
        Parallel.forEach(parts, costPerItem: 2 * m * n * k / max(1, parts)) { range in
            let first = Int64(groups * range.lowerBound / parts), last = Int64(groups * range.upperBound / parts)
            _ = loft_gemm_bf16_packed(
                1, Int64(m), Int64(n), Int64(k), alpha, a.words, b.words, beta, cP.pointer, Int64(ldc),
                byColumns ? 0 : first * Int64(mr), byColumns ? Int64(m) : last * Int64(mr),
                byColumns ? first * Int64(nr) : 0, byColumns ? last * Int64(nr) : Int64(n))
        }
    }

    /// The multi-threaded bf16 product of unpacked fp32 operands (what `sgemm(compute: .bf16)` runs at
    /// the top level): packs both once, then splits C. False when the kernel does not run here.
    static func bf16gemmPacking(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) -> Bool {
        guard let packedA = BF16PackedOperand(left: true, a, ld: lda, transposed: transposeA, rows: m, depth: k),
            let packedB = BF16PackedOperand(left: false, b, ld: ldb, transposed: transposeB, rows: n, depth: k)
        else { return false }
        bf16gemm(alpha: alpha, packedA: packedA, packedB: packedB, beta: beta, c: c, ldc: ldc)
        return true
    }
}
