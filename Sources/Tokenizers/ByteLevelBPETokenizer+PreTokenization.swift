extension ByteLevelBPETokenizer {
    /// The character classes GPT-2's regex distinguishes.
    enum Kind { case letter, number, space, other }

    /// `\p{L}`, `\p{N}`, `\s` (Unicode White_Space) or anything else.
    @inline(__always)
    static func kind(_ s: Unicode.Scalar) -> Kind {
        if s.isASCII {
            switch s.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let properties = s.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// GPT-2's pre-tokenizer on `s[range]`, written out as a scanner with the regex's alternation
    /// order: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    static func gpt2Pieces(_ s: ArraySlice<Unicode.Scalar>, _ range: Range<Int>) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var i = range.lowerBound
        let end = range.upperBound
        func run(from start: Int, while kindIs: Kind) -> Int {
            var j = start
            while j < end && kind(s[j]) == kindIs { j += 1 }
            return j
        }
        while i < end {
            let c = s[i]
            if c == "'" && i + 1 < end {
                let next = s[i + 1]
                if ["s", "t", "m", "d"].contains(next) { pieces.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < end,
                    [("r", "e"), ("v", "e"), ("l", "l")].contains(where: { $0.0 == next && $0.1 == s[i + 2] })
                {
                    pieces.append(i..<(i + 3)); i += 3; continue
                }
            }
            let afterSpace = c == " " && i + 1 < end ? i + 1 : i
            let classOfWord = kind(s[afterSpace])
            if classOfWord != .space && (afterSpace == i || c == " ") {
                let stop = run(from: afterSpace, while: classOfWord)
                pieces.append(i..<stop)
                i = stop
                continue
            }
            // Whitespace: the whole run at the end, else all but its last character (which then
            // leads the next piece), else the single character.
            let stop = run(from: i, while: .space)
            if stop == end || stop - i == 1 {
                pieces.append(i..<stop)
                i = stop
            } else {
                pieces.append(i..<(stop - 1))
                i = stop - 1
            }
        }
        return pieces
    }

    /// Llama-3's pre-tokenizer (llama.cpp's `llama-bpe`) on `s[range]`, a scanner with the regex's
    /// alternation order: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`; with `digitRun` 1 (`\p{N}` alone),
    /// Qwen2's.
    /// reference: meta-llama/llama3 tokenizer.py (pat_str); llama.cpp llama-vocab.cpp (LLAMA3, QWEN2)
    static func llama3Pieces(_ s: ArraySlice<Unicode.Scalar>, _ range: Range<Int>, digitRun: Int) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var i = range.lowerBound
        let end = range.upperBound
        func run(from start: Int, while kindIs: Kind, limit: Int = .max) -> Int {
            var j = start
            while j < end && j - start < limit && kind(s[j]) == kindIs { j += 1 }
            return j
        }
        func isNewline(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar {
            (0x41...0x5A).contains(c.value) ? Unicode.Scalar(c.value + 32)! : c
        }
        while i < end {
            let c = s[i]
            if c == "'" && i + 1 < end {
                let next = lower(s[i + 1])
                if ["s", "t", "m", "d"].contains(next) { pieces.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < end,
                    [("r", "e"), ("v", "e"), ("l", "l")].contains(where: { $0.0 == next && $0.1 == lower(s[i + 2]) })
                {
                    pieces.append(i..<(i + 3)); i += 3; continue
                }
            }
            let kindOfC = kind(c)
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if kindOfC == .letter {
                let stop = run(from: i, while: .letter)
                pieces.append(i..<stop); i = stop; continue
            }
            if kindOfC != .number && !isNewline(c) && i + 1 < end && kind(s[i + 1]) == .letter {
                let stop = run(from: i + 1, while: .letter)
                pieces.append(i..<stop); i = stop; continue
            }
            // \p{N}{1,3} (Qwen2: \p{N})
            if kindOfC == .number {
                let stop = run(from: i, while: .number, limit: digitRun)
                pieces.append(i..<stop); i = stop; continue
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            let afterSpace = c == " " && i + 1 < end ? i + 1 : i
            if kind(s[afterSpace]) == .other {
                var stop = run(from: afterSpace, while: .other)
                while stop < end && isNewline(s[stop]) { stop += 1 }
                pieces.append(i..<stop); i = stop; continue
            }
            // Whitespace: up to its last newline; else the whole run at the end, else all but its
            // last character, else the single character.
            let stop = run(from: i, while: .space)
            if let lastNewline = (i..<stop).last(where: { isNewline(s[$0]) }) {
                pieces.append(i..<(lastNewline + 1)); i = lastNewline + 1
            } else if stop == end || stop - i == 1 {
                pieces.append(i..<stop); i = stop
            } else {
                pieces.append(i..<(stop - 1)); i = stop - 1
            }
        }
        return pieces
    }

    /// GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the other 68 are moved
    /// to U+0100 and up. Returns byte → character and character → byte.
    static func byteCharacters() -> ([Unicode.Scalar], [Unicode.Scalar: UInt8]) {
        var toCharacter = [Unicode.Scalar](repeating: " ", count: 256)
        var shifted: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            toCharacter[byte] = Unicode.Scalar(printable ? UInt32(byte) : shifted)!
            if !printable { shifted += 1 }
        }
        var fromCharacter: [Unicode.Scalar: UInt8] = [:]
        for (byte, character) in toCharacter.enumerated() { fromCharacter[character] = UInt8(byte) }
        return (toCharacter, fromCharacter)
    }
}
