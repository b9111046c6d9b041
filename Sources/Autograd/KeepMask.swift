// MARK: - A dropout keep-mask stored as bits: what a LoRA layer keeps from forward to backward
// (one bit per input element; bytes were 150 MB a SmolLM2 step at batch 4 × 256, bits are 19 MB).

/// Which elements dropout kept (bit i of word i / 64 set = element i kept), with the scaled
/// products that apply it. `count == 0` means no dropout.
public struct KeepMask: Sendable {
    /// The bits, little-endian within each word.
    public private(set) var words: [UInt64]
    /// The number of elements.
    public let count: Int

    /// No mask (dropout off).
    public static var none: KeepMask { KeepMask(words: [], count: 0) }

    /// The mask from its words.
    public init(words: [UInt64], count: Int) {
        precondition(words.count == (count + 63) / 64, "KeepMask: \(words.count) words for \(count) elements")
        (self.words, self.count) = (words, count)
    }

    /// True when there is no mask.
    public var isEmpty: Bool { count == 0 }

    /// Whether element `i` was kept.
    @inline(__always)
    public func isKept(_ i: Int) -> Bool { words[i >> 6] >> UInt64(i & 63) & 1 == 1 }

    /// `out[i] = x[i]·keep` where kept, `x[i]·0` where dropped, for i in `range` (the same values
    /// as multiplying by a Float mask of 0 / keep), 8 elements per mask byte.
    public func apply(
        _ x: UnsafePointer<Float>, scale keep: Float, into out: UnsafeMutablePointer<Float>, range: Range<Int>
    ) {
        forEachByte(range) { i, byte in
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * Self.factors(byte, keep)
            UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: SIMD8<Float>.self)
        } single: { i in
            out[i] = x[i] * (isKept(i) ? keep : 0)
        }
    }

    /// `dx[i] += t[i]·keep` where kept, `+= t[i]·0` where dropped, for i in `range`.
    public func accumulate(
        _ t: UnsafePointer<Float>, scale keep: Float, into dx: UnsafeMutablePointer<Float>, range: Range<Int>
    ) {
        forEachByte(range) { i, byte in
            let sum =
                UnsafeRawPointer(dx + i).loadUnaligned(as: SIMD8<Float>.self)
                + UnsafeRawPointer(t + i).loadUnaligned(as: SIMD8<Float>.self) * Self.factors(byte, keep)
            UnsafeMutableRawPointer(dx + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        } single: { i in
            dx[i] += t[i] * (isKept(i) ? keep : 0)
        }
    }

    /// `keep` or +0 for the 8 elements of a mask byte, by integer lane operations (each bit
    /// widened to an all-ones or all-zeros lane, ANDed with keep's bits). No lookup table: a
    /// lazily made global read first by two threads at once deadlocked `swift_once` in the
    /// fuzzer's forked children (seen: both threads in its futex; the child's main thread keeps
    /// the parent's cached thread id, which the priority-inheritance lock checks).
    @inline(__always)
    private static func factors(_ byte: UInt8, _ keep: Float) -> SIMD8<Float> {
        let bits = (SIMD8<UInt32>(repeating: UInt32(byte)) &>> SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7)) & 1
        let lanes = (SIMD8<UInt32>.zero &- bits) & SIMD8<UInt32>(repeating: keep.bitPattern)
        return unsafeBitCast(lanes, to: SIMD8<Float>.self)
    }

    /// Calls `byte` for each whole aligned group of 8 elements in `range` with its 8 mask bits,
    /// `single` for the elements outside such groups.
    @inline(__always)
    private func forEachByte(_ range: Range<Int>, byte: (Int, UInt8) -> Void, single: (Int) -> Void) {
        var i = range.lowerBound
        while i < range.upperBound && i & 7 != 0 { single(i); i += 1 }
        while i + 8 <= range.upperBound { byte(i, UInt8(truncatingIfNeeded: words[i >> 6] >> UInt64(i & 63))); i += 8 }
        while i < range.upperBound { single(i); i += 1 }
    }
}
