extension ByteLevelBPETokenizer {
    /// One step of a pre-tokenizer that llama.cpp runs as a sequence of regexes (DeepSeek's):
    /// every chunk so far is cut into the step's matches and the text between them.
    struct SplitRule: Sendable {
        /// What one match is.
        enum Shape: Sendable {
            /// One accepted character (`[…]`, `\p{N}`).
            case single
            /// A run of accepted characters (`[…]+`).
            case run
            /// An optional whitespace character, then a run (`\s?[…]+`).
            case spaceThenRun
            /// The whitespace that ends the chunk (`\s+$`).
            case trailingSpaces
        }

        let shape: Shape
        let accepts: @Sendable (Unicode.Scalar) -> Bool
    }

    /// `\s` as llama.cpp's regexes see it: ASCII whitespace, and every other Unicode White_Space
    /// character (which llama.cpp maps to a vertical tab before matching).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        c.isASCII ? (c == " " || (0x09...0x0D).contains(c.value)) : c.properties.isWhitespace
    }

    /// A bracket class as llama.cpp's regex spells it (`A-Za-zµÀ-Ö`), as a predicate. Non-ASCII
    /// whitespace never matches a class (llama.cpp replaces it before matching).
    static func characterClass(_ spelled: String) -> @Sendable (Unicode.Scalar) -> Bool {
        let scalars = Array(spelled.unicodeScalars)
        var ranges: [ClosedRange<UInt32>] = []
        var i = 0
        while i < scalars.count {
            if i + 2 < scalars.count, scalars[i + 1] == "-" {
                ranges.append(scalars[i].value...scalars[i + 2].value)
                i += 3
            } else {
                ranges.append(scalars[i].value...scalars[i].value)
                i += 1
            }
        }
        let ascii = (0..<128).map { byte in ranges.contains { $0.contains(UInt32(byte)) } }
        let sorted = ranges.filter { $0.upperBound >= 128 }.sorted { $0.lowerBound < $1.lowerBound }
        return { c in
            if c.isASCII { return ascii[Int(c.value)] }
            if c.properties.isWhitespace { return false }
            // The last range starting at or below c (binary search), then whether it reaches c.
            var low = 0
            var high = sorted.count
            while low < high {
                let middle = (low + high) / 2
                if sorted[middle].lowerBound <= c.value { low = middle + 1 } else { high = middle }
            }
            return (0..<low).reversed().contains { sorted[$0].contains(c.value) }
        }
    }

    /// `\p{L}`, `\p{N}`, `\p{P}` as llama.cpp matches them (a "collapsed" text: ASCII by its own
    /// ranges, any other character by its general category).
    static func category(_ name: Character) -> @Sendable (Unicode.Scalar) -> Bool {
        { c in
            if c.isASCII {
                switch name {
                case "L": return ("A"..."Z").contains(c) || ("a"..."z").contains(c)
                case "N": return ("0"..."9").contains(c)
                default: return "!\"#%&'()*,-./:;?@[\\]_{}".unicodeScalars.contains(c)
                }
            }
            if c.properties.isWhitespace { return false }
            switch (name, c.properties.generalCategory) {
            case ("L", .uppercaseLetter), ("L", .lowercaseLetter), ("L", .titlecaseLetter),
                ("L", .modifierLetter), ("L", .otherLetter):
                return true
            case ("N", .decimalNumber), ("N", .letterNumber), ("N", .otherNumber): return true
            case ("P", .connectorPunctuation), ("P", .dashPunctuation), ("P", .openPunctuation),
                ("P", .closePunctuation), ("P", .initialPunctuation), ("P", .finalPunctuation),
                ("P", .otherPunctuation):
                return true
            default: return false
            }
        }
    }

    /// CJK ideographs, the block before them, and Hangul: `[一-龥ࠀ-一가-퟿]`.
    static let cjk = characterClass(cjkRanges)

    /// The ranges of `cjk`, as llama.cpp's regex spells them.
    static let cjkRanges = "\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}"

    /// DeepSeek LLM's letters (Latin, Greek, Cyrillic, Armenian, Georgian, … and full-width Latin),
    /// code point by code point as llama.cpp's regex spells them.
    static let deepseekLetters =
        "A-Za-z\u{B5}\u{C0}-\u{D6}\u{D8}-\u{F6}\u{F8}-\u{1BA}\u{1BC}-\u{1BF}\u{1C4}-\u{293}"
        + "\u{295}-\u{2AF}\u{370}-\u{373}\u{376}\u{377}\u{37B}-\u{37D}\u{37F}\u{386}\u{388}-\u{38A}"
        + "\u{38C}\u{38E}-\u{3A1}\u{3A3}-\u{3F5}\u{3F7}-\u{481}\u{48A}-\u{52F}\u{531}-\u{556}"
        + "\u{10A0}-\u{10C5}\u{13A0}-\u{13F5}\u{13F8}-\u{13FD}\u{1C90}-\u{1CBA}\u{1CBD}-\u{1CBF}"
        + "\u{1D00}-\u{1D2B}\u{1D6B}-\u{1D77}\u{1D79}-\u{1D9A}\u{1E00}-\u{1F15}\u{1F18}-\u{1F1D}"
        + "\u{1F20}-\u{1F45}\u{1F48}-\u{1F4D}\u{1F50}-\u{1F57}\u{1F59}\u{1F5B}\u{1F5D}\u{1F5F}-"
        + "\u{1F7D}\u{1F80}-\u{1FB4}\u{1FB6}-\u{1FBC}\u{1FBE}\u{1FC2}-\u{1FC4}\u{1FC6}-\u{1FCC}"
        + "\u{1FD0}-\u{1FD3}\u{1FD6}-\u{1FDB}\u{1FE0}-\u{1FEC}\u{1FF2}-\u{1FF4}\u{1FF6}-\u{1FFC}"
        + "\u{2102}\u{2107}\u{210A}-\u{2113}\u{2115}\u{2119}-\u{211D}\u{2124}\u{2126}\u{2128}"
        + "\u{212A}-\u{212D}\u{212F}-\u{2134}\u{2139}\u{213C}-\u{213F}\u{2145}-\u{2149}\u{214E}"
        + "\u{2183}\u{2184}\u{2C00}-\u{2C7B}\u{2C7E}-\u{2CE4}\u{2CEB}-\u{2CEE}\u{2CF2}\u{2CF3}"
        + "\u{A640}-\u{A66D}\u{A680}-\u{A69B}\u{A722}-\u{A76F}\u{A771}-\u{A787}\u{A78B}-\u{A78E}"
        + "\u{AB70}-\u{ABBF}\u{FB00}-\u{FB06}\u{FB13}-\u{FB17}\u{FF21}-\u{FF3A}\u{FF41}-\u{FF5A}"
        + "\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-"
        + "\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}"

    /// DeepSeek LLM's punctuation: ASCII and full-width punctuation, quotes, CJK marks.
    static let deepseekPunctuation = "!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}"

    /// llama.cpp's `deepseek-llm`: `[\r\n]`, `\s?[Latin, Greek, Cyrillic, … letters]+`,
    /// `\s?[ASCII and full-width punctuation]+`, `\s+$`, CJK runs, `\p{N}+`.
    /// reference: llama.cpp llama-vocab.cpp (LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_LLM), unicode.cpp
    static let deepseekLLMRules: [SplitRule] = [
        SplitRule(shape: .single, accepts: characterClass("\r\n")),
        SplitRule(
            shape: .spaceThenRun,
            accepts: characterClass(deepseekLetters)),
        SplitRule(
            shape: .spaceThenRun,
            accepts: characterClass(deepseekPunctuation)),
        SplitRule(shape: .trailingSpaces, accepts: { isSpace($0) }),
        SplitRule(shape: .run, accepts: cjk),
        SplitRule(shape: .run, accepts: category("N")),
    ]

    /// llama.cpp's `deepseek-coder`: `[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, CJK runs, `\p{N}`.
    /// reference: llama.cpp llama-vocab.cpp (LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_CODER), unicode.cpp
    static let deepseekCoderRules: [SplitRule] = [
        SplitRule(shape: .single, accepts: characterClass("\r\n")),
        SplitRule(shape: .spaceThenRun, accepts: category("L")),
        SplitRule(shape: .spaceThenRun, accepts: category("P")),
        SplitRule(shape: .run, accepts: cjk),
        SplitRule(shape: .single, accepts: category("N")),
    ]

    /// `s[range]` cut by `rules` in turn, as llama.cpp's `unicode_regex_split` does: each rule
    /// finds its leftmost matches in every chunk of the step before, and both the matches and
    /// the text between them become chunks.
    static func ruleSplitPieces(_ s: ArraySlice<Unicode.Scalar>, _ range: Range<Int>, rules: [SplitRule]) -> [Range<
        Int
    >] {
        var chunks = [range]
        for rule in rules {
            var next: [Range<Int>] = []
            for chunk in chunks {
                var i = chunk.lowerBound
                var unmatched = chunk.lowerBound
                while i < chunk.upperBound {
                    guard let end = match(rule, s, at: i, end: chunk.upperBound) else {
                        i += 1
                        continue
                    }
                    if unmatched < i { next.append(unmatched..<i) }
                    next.append(i..<end)
                    i = end
                    unmatched = end
                }
                if unmatched < chunk.upperBound { next.append(unmatched..<chunk.upperBound) }
            }
            chunks = next
        }
        return chunks
    }

    /// The end of `rule`'s match starting at `i` (before `end`), or nil.
    private static func match(_ rule: SplitRule, _ s: ArraySlice<Unicode.Scalar>, at i: Int, end: Int) -> Int? {
        func run(from start: Int) -> Int {
            var j = start
            while j < end && rule.accepts(s[j]) { j += 1 }
            return j
        }
        switch rule.shape {
        case .single:
            return rule.accepts(s[i]) ? i + 1 : nil
        case .run:
            let stop = run(from: i)
            return stop > i ? stop : nil
        case .spaceThenRun:
            if isSpace(s[i]), i + 1 < end, rule.accepts(s[i + 1]) { return run(from: i + 1) }
            let stop = run(from: i)
            return stop > i ? stop : nil
        case .trailingSpaces:
            return (i..<end).allSatisfy { isSpace(s[$0]) } ? end : nil
        }
    }
}
