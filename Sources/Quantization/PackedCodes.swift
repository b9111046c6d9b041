import Autograd

/// Codes of `bits` bits packed into bytes, first element in the most significant position:
/// two codes a byte at 4 bits (high nibble first, as bitsandbytes), four at 2 bits (highest pair
/// first), one at 8 bits. The last byte is zero-padded.
public struct PackedCodes: Equatable, Sendable {
    /// The packed bytes.
    public let bytes: [UInt8]
    /// Bits per code (2, 4 or 8) and the number of codes.
    public let bits: Int, count: Int

    /// Packs `codes` (each below 2^bits).
    public init(codes: [UInt8], bits: Int) {
        precondition([2, 4, 8].contains(bits), "PackedCodes: bits must be 2, 4 or 8, got \(bits)")
        let limit = UInt8(truncatingIfNeeded: (1 << bits) - 1)
        precondition(codes.allSatisfy { $0 <= limit }, "PackedCodes: a code needs more than \(bits) bits")
        let perByte = 8 / bits
        let count = codes.count
        let byteCount = (count + perByte - 1) / perByte
        let bytes = [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            let out = SendablePointer(buffer.baseAddress!)
            codes.withUnsafeBufferPointer { c in
                Parallel.forEach(byteCount, costPerItem: 4 * perByte) { range in
                    for j in range {
                        var byte: UInt8 = 0
                        for slot in 0..<perByte where j * perByte + slot < count {
                            byte |= c[j * perByte + slot] << UInt8((perByte - 1 - slot) * bits)
                        }
                        out.pointer[j] = byte
                    }
                }
            }
            initialized = byteCount
        }
        (self.bytes, self.bits, self.count) = (bytes, bits, count)
    }

    /// Wraps already-packed bytes (as read from a file).
    public init(bytes: [UInt8], bits: Int, count: Int) {
        precondition(
            [2, 4, 8].contains(bits) && bytes.count == (count * bits + 7) / 8,
            "PackedCodes: \(bytes.count) bytes for \(count) codes of \(bits) bits")
        (self.bytes, self.bits, self.count) = (bytes, bits, count)
    }

    /// The code of element `index`.
    @inline(__always)
    public subscript(index: Int) -> UInt8 {
        let perByte = 8 / bits
        let shift = UInt8((perByte - 1 - index % perByte) * bits)
        return (bytes[index / perByte] >> shift) & UInt8((1 << bits) - 1)
    }

    /// All codes, unpacked.
    public var unpacked: [UInt8] { (0..<count).map { self[$0] } }
}
