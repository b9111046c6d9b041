import Autograd

/// How a file is mutated: as bytes, as text (numbers, lines, strings, punctuation), or as a
/// safetensors file (its JSON header as text, the length prefix kept consistent half the time).
public enum MutationKind: Sendable {
    case binary, text, safetensors
}

/// A seeded mutator in the manner of libFuzzer's: one to three stacked edits, chosen from bit
/// flips, "interesting" integers written over header fields, erased, inserted and copied ranges,
/// truncation, and, for text, numbers replaced by boundary values, lines dropped or repeated,
/// strings emptied or made invalid UTF-8, and stray punctuation. Same seed → same bytes.
/// reference: LLVM libFuzzer FuzzerMutate.cpp (the mutation menu)
public struct Mutator {
    var rng: RandomState

    /// A mutator drawing from `rng`.
    public init(rng: RandomState) { self.rng = rng }

    /// Integers near the boundaries that size and count computations trip over.
    static let interestingIntegers: [UInt64] = [
        0, 1, 2, 7, 8, 31, 32, 255, 256, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 30, 1 << 32,
        1 << 40, 1 << 62, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt64.max, UInt64.max - 1,
    ]
    /// Replacements for a number in a text file.
    static let interestingNumbers: [String] = [
        "0", "-1", "1", "2", "-2147483648", "2147483647", "2147483648", "4294967296", "1073741824", "1000000",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "4611686018427387904",
        "18446744073709551616",
        "1e308", "1e309", "-1e309", "1e-320", "NaN", "nan", "inf", "-inf", ".inf", "0.5", "-0.0", "3.0", "1e5", "0x10",
        "07", "",
    ]
    static let punctuation: [UInt8] = Array("{}[]\":,'\n -#&*!|>".utf8)

    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    /// `data` after one to three edits.
    public mutating func mutate(_ data: [UInt8], kind: MutationKind) -> [UInt8] {
        var out = data
        let edits = [1, 1, 1, 1, 1, 1, 2, 2, 2, 3][below(10)]  // mostly one edit: deep inputs stay reachable
        for _ in 0..<edits {
            switch kind {
            case .binary: out = mutateBytes(out)
            case .text: out = below(7) == 0 ? mutateBytes(out) : mutateText(out)
            case .safetensors: out = mutateSafeTensors(out)
            }
        }
        return out
    }

    /// An offset, biased to the first 4 KiB (where headers live).
    mutating func offset(in count: Int) -> Int { below(2) == 0 ? below(min(count, 4096)) : below(count) }

    mutating func mutateBytes(_ input: [UInt8]) -> [UInt8] {
        var data = input
        if data.isEmpty { return [UInt8(truncatingIfNeeded: rng.next())] }
        switch below(8) {
        case 0:
            let at = offset(in: data.count)
            data[at] ^= 1 << UInt8(below(8))
        case 1:
            data[offset(in: data.count)] = [0, 1, 0x7F, 0x80, 0xFF][below(5)]
        case 2, 3:
            let width = [2, 4, 8][below(3)], at = offset(in: data.count)
            var value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
            if below(4) == 0 { value = UInt64(data.count) &+ UInt64(below(64)) }
            for i in 0..<width where at + i < data.count {
                data[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
            }
        case 4:
            let at = offset(in: data.count), length = 1 + below(min(64, data.count - at))
            data.removeSubrange(at..<at + length)
        case 5:
            let at = offset(in: data.count + 1)
            data.insert(
                contentsOf: (0...below(16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: min(at, data.count))
        case 6:
            let from = offset(in: data.count), to = offset(in: data.count), length = 1 + below(64)
            for i in 0..<length where from + i < data.count && to + i < data.count { data[to + i] = data[from + i] }
        default:
            data.removeSubrange(offset(in: data.count)...)
        }
        return data
    }

    mutating func mutateText(_ input: [UInt8]) -> [UInt8] {
        var data = input
        if data.isEmpty { return Array(Self.interestingNumbers[below(Self.interestingNumbers.count)].utf8) }
        switch below(10) {
        case 0, 1, 2, 3:  // a number (optionally signed, with a fraction or exponent) → a boundary value
            let starts = data.indices.filter {
                (data[$0] >= 0x30 && data[$0] <= 0x39) && ($0 == 0 || !isNumberByte(data[$0 - 1]))
            }
            guard !starts.isEmpty else { return mutateBytes(data) }
            var start = starts[below(starts.count)], end = start
            while end < data.count, isNumberByte(data[end]) { end += 1 }
            if start > 0, data[start - 1] == 0x2D { start -= 1 }
            data.replaceSubrange(
                start..<end, with: Array(Self.interestingNumbers[below(Self.interestingNumbers.count)].utf8))
        case 4, 5:  // a line dropped, repeated or moved
            var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
            let i = below(lines.count), j = below(lines.count)
            switch below(3) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: j)
            default: lines.swapAt(i, j)
            }
            data = Array(lines.joined(separator: [0x0A]))
        case 6, 7:  // a string emptied, made invalid UTF-8, or replaced by another from the file
            let quotes = data.indices.filter { data[$0] == 0x22 }
            guard quotes.count >= 2 else { return mutateBytes(data) }
            let q = below(quotes.count - 1), (start, end) = (quotes[q] + 1, quotes[q + 1])
            let replacement: [UInt8]
            switch below(3) {
            case 0: replacement = []
            case 1: replacement = [0xFF, 0xFE, 0xC3]
            default:
                let r = below(quotes.count - 1)
                replacement = Array(data[(quotes[r] + 1)..<quotes[r + 1]])
            }
            data.replaceSubrange(start..<end, with: replacement)
        case 8:  // stray punctuation
            data.insert(Self.punctuation[below(Self.punctuation.count)], at: below(data.count + 1))
        default:  // a punctuation character removed
            let marks = data.indices.filter { Self.punctuation.contains(data[$0]) }
            guard !marks.isEmpty else { return mutateBytes(data) }
            data.remove(at: marks[below(marks.count)])
        }
        return data
    }

    func isNumberByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x65 || b == 0x45 || b == 0x2B
    }

    /// Safetensors: the JSON header edited as text (length prefix rewritten, so the edit reaches
    /// the parser) or the file edited as bytes.
    public mutating func mutateSafeTensors(_ data: [UInt8]) -> [UInt8] {
        guard data.count >= 8, below(3) != 0 else { return mutateBytes(data) }
        var length = 0
        for i in 0..<8 { length |= Int(data[i]) << (8 * i) }
        guard length >= 0, length <= data.count - 8 else { return mutateBytes(data) }
        let header = mutateText(Array(data[8..<8 + length]))
        var out: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: header.count >> (8 * $0)) }
        out += header
        out += data[(8 + length)...]
        return out
    }
}
