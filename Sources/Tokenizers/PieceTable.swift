import Foundation

/// Piece bytes → id without building a string per lookup: the pieces' UTF-8 bytes in one buffer
/// and an open-addressing table of ids by FNV-1a hash (a later duplicate piece wins, as in
/// llama.cpp's map). The SentencePiece merge loop asks it for every adjacent pair.
struct PieceTable: Sendable {
    private let bytes: [UInt8]
    /// Piece i is `bytes[offsets[i]..<offsets[i + 1]]`.
    private let offsets: [Int]
    /// Ids by hash slot (-1: empty); a power-of-two size, at most half full.
    private let slots: [Int32]
    private let mask: Int

    init(_ pieces: [String]) {
        var bytes: [UInt8] = []
        var offsets = [0]
        for piece in pieces {
            bytes += piece.utf8
            offsets.append(bytes.count)
        }
        var size = 16
        while size < 2 * pieces.count { size *= 2 }
        var slots = [Int32](repeating: -1, count: size)
        let mask = size - 1
        for id in pieces.indices {
            let start = offsets[id], count = offsets[id + 1] - start
            var slot = bytes.withUnsafeBufferPointer { Self.hash($0.baseAddress! + start, count) } & mask
            while slots[slot] >= 0 {
                let other = Int(slots[slot])
                if bytes[offsets[other]..<offsets[other + 1]].elementsEqual(bytes[start..<(start + count)]) { break }
                slot = (slot + 1) & mask
            }
            slots[slot] = Int32(id)
        }
        self.bytes = bytes
        self.offsets = offsets
        self.slots = slots
        self.mask = mask
    }

    /// The id of the piece spelled by `count` bytes at `text`, or nil.
    func id(_ text: UnsafePointer<UInt8>, _ count: Int) -> Int32? {
        var slot = Self.hash(text, count) & mask
        return bytes.withUnsafeBufferPointer { stored in
            while slots[slot] >= 0 {
                let id = Int(slots[slot])
                let start = offsets[id]
                if offsets[id + 1] - start == count, memcmp(stored.baseAddress! + start, text, count) == 0 {
                    return Int32(id)
                }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    /// FNV-1a over `count` bytes.
    private static func hash(_ text: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in 0..<count {
            hash = (hash ^ UInt64(text[index])) &* 0x100_0000_01b3
        }
        return Int(truncatingIfNeeded: hash)
    }
}
