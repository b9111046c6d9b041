import Foundation

/// A byte-level BPE tokenizer (GPT-2's scheme, as Llama-3, SmolLM and Qwen use): special tokens
/// are matched whole first; the rest is split by the model's pre-tokenizer, each piece's UTF-8
/// bytes are mapped to GPT-2's printable characters, and merges are applied by rank.
/// reference: openai/gpt-2 encoder.py (bytes_to_unicode, bpe); huggingface/tokenizers (ByteLevel,
/// Digits); llama.cpp llama-vocab.cpp (pre-tokenizer names)
public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    /// How text is cut into pieces before BPE.
    public enum PreTokenizer: String, Sendable {
        /// GPT-2's regex.
        case gpt2
        /// Every digit alone, then GPT-2's regex (SmolLM's `Digits(individual) + ByteLevel`).
        case smollm
        /// Llama-3's regex (letters with one leading non-letter, digits in threes, newlines kept
        /// apart), words found whole in the vocabulary taken as they are (`ignore_merges`).
        case llama3
        /// Qwen2's regex: Llama-3's with every digit alone, merges always applied.
        case qwen2
        /// DeepSeek LLM's sequence of splits (newlines, letter runs of its scripts, punctuation,
        /// trailing spaces, CJK runs, digit runs).
        case deepseekLLM
        /// DeepSeek Coder's sequence of splits (newlines, letters, punctuation, CJK, digits alone).
        case deepseekCoder

        /// The pre-tokenizer llama.cpp calls `name` (`tokenizer.ggml.pre`), nil for one not read.
        /// reference: llama.cpp llama-vocab.cpp (llama_vocab::impl::load: pre-tokenizer names)
        public init?(llamaCppName name: String) {
            switch name {
            case "smollm": self = .smollm
            case "gpt2", "gpt-2", "default": self = .gpt2
            case "llama-bpe", "llama3", "llama-v3": self = .llama3
            case "qwen2", "deepseek-r1-qwen": self = .qwen2
            case "deepseek-llm": self = .deepseekLLM
            case "deepseek-coder": self = .deepseekCoder
            default: return nil
            }
        }

        /// The names `init(llamaCppName:)` reads.
        public static let llamaCppNames = ["gpt2", "smollm", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder"]

        /// The name a GGUF writer gives it.
        public var llamaCppName: String {
            switch self {
            case .gpt2: return "gpt2"
            case .smollm: return "smollm"
            case .llama3: return "llama-bpe"
            case .qwen2: return "qwen2"
            case .deepseekLLM: return "deepseek-llm"
            case .deepseekCoder: return "deepseek-coder"
            }
        }
    }

    public let path: String
    public var vocabularySize: Int { tokens.count }
    public let bosID: Int32?, eosID: Int32?
    /// Whether the model expects BOS first (`add_bos_token`); `encode(addBOS: true)` honours it.
    public let addsBOS: Bool
    let tokens: [String]
    /// The merges as given ("a b", best first), kept for writing `tokenizer.json`.
    let mergeList: [String]
    /// Token types (3 control, 4 user-defined, else ordinary): decoding and writing follow them.
    let tokenTypes: [Int]
    let idOfToken: [String: Int32]
    /// (left id, right id) → (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Special tokens matched whole in the input, longest first (control ones, type 3, decode to
    /// nothing; user-defined ones, type 4, to their text).
    let specials: WholePieceIndex<Unicode.Scalar>
    let preTokenizer: PreTokenizer
    /// The token id of each byte's printable character (nil when the vocabulary lacks it: such a
    /// byte becomes `unkID`, or is dropped without one, as in Hugging Face's BPE).
    let byteIDs: [Int32?]
    /// The unknown token, if any.
    public let unkID: Int32?
    /// The printable character each byte stands for.
    let byteCharacter: [Unicode.Scalar]
    /// The byte each printable character stands for.
    let byteOfCharacter: [Unicode.Scalar: UInt8]
    private var cache: [String: [Int32]] = [:]
    private let lock = NSLock()

    /// A tokenizer from its vocabulary (`tokens` in GPT-2's byte characters), `merges` ("a b",
    /// best first) and token types (3 control, 4 user-defined: both matched whole).
    public init(
        path: String, tokens: [String], merges: [String], tokenTypes: [Int], bosID: Int32?, eosID: Int32?,
        unkID: Int32? = nil, addsBOS: Bool, preTokenizer: PreTokenizer
    ) throws {
        self.path = path
        self.tokens = tokens
        self.bosID = bosID
        self.eosID = eosID
        self.addsBOS = addsBOS
        self.preTokenizer = preTokenizer
        (self.unkID, mergeList, self.tokenTypes) = (unkID, merges, tokenTypes)
        var ids: [String: Int32] = [:]
        for (index, token) in tokens.enumerated() where ids[token] == nil { ids[token] = Int32(index) }
        idOfToken = ids
        let (toCharacter, fromCharacter) = Self.byteCharacters()
        (byteCharacter, byteOfCharacter) = (toCharacter, fromCharacter)
        byteIDs = toCharacter.map { ids[String(Character($0))] }
        guard byteIDs.compactMap({ $0 }).count >= 128 else {
            throw TokenizerError.invalidModel(
                path: path, reason: "fewer than half of the 256 byte tokens: not a byte-level vocabulary")
        }
        var table: [UInt64: (Int32, Int32)] = [:]
        for (rank, merge) in merges.enumerated() {
            let parts = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let left = ids[String(parts[0])], let right = ids[String(parts[1])],
                let merged = ids[String(parts[0]) + String(parts[1])]
            else {
                throw TokenizerError.invalidModel(
                    path: path, reason: "merge \(rank) '\(merge)' does not name tokens of the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if table[key] == nil { table[key] = (Int32(rank), merged) }
        }
        self.merges = table
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw TokenizerError.invalidModel(
                path: path, reason: "\(tokenTypes.count) token types for \(tokens.count) tokens")
        }
        specials = WholePieceIndex(
            tokenTypes.enumerated().filter { $0.element == 3 || $0.element == 4 }.map {
                (Array(tokens[$0.offset].unicodeScalars), Int32($0.offset))
            })
    }

    // MARK: - Encoding

    public func encode(_ text: String, addBOS: Bool, addEOS: Bool) throws -> [Int32] {
        var ids: [Int32] = []
        if addBOS && addsBOS, let bosID { ids.append(bosID) }
        let scalars = Array(text.unicodeScalars)
        var start = 0, i = 0
        while i < scalars.count {
            if let special = specials.match(at: i, in: scalars) {
                encodeOrdinary(scalars[start..<i], into: &ids)
                ids.append(special.id)
                i += special.length
                start = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(scalars[start..<scalars.count], into: &ids)
        if addEOS, let eosID { ids.append(eosID) }
        return ids
    }

    /// Pre-tokenizes and BPE-encodes text without special tokens.
    private func encodeOrdinary(_ s: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        for piece in ordinaryPieces(s) { ids += bpe(String(String.UnicodeScalarView(s[piece]))) }
    }

    /// The pre-tokens of text without special tokens, as ranges of `s`.
    private func ordinaryPieces(_ s: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
        guard !s.isEmpty else { return [] }
        switch preTokenizer {
        case .gpt2: return Self.gpt2Pieces(s, s.startIndex..<s.endIndex)
        case .llama3: return Self.llama3Pieces(s, s.startIndex..<s.endIndex, digitRun: 3)
        case .qwen2: return Self.llama3Pieces(s, s.startIndex..<s.endIndex, digitRun: 1)
        case .deepseekLLM: return Self.ruleSplitPieces(s, s.startIndex..<s.endIndex, rules: Self.deepseekLLMRules)
        case .deepseekCoder: return Self.ruleSplitPieces(s, s.startIndex..<s.endIndex, rules: Self.deepseekCoderRules)
        case .smollm:
            var pieces: [Range<Int>] = [], start = s.startIndex
            for i in s.indices where Self.kind(s[i]) == .number {
                if start < i { pieces += Self.gpt2Pieces(s, start..<i) }
                pieces.append(i..<(i + 1))
                start = i + 1
            }
            if start < s.endIndex { pieces += Self.gpt2Pieces(s, start..<s.endIndex) }
            return pieces
        }
    }

    /// The pieces `text` is cut into before BPE (special tokens whole), for checking what a model
    /// sees: their concatenation is `text`.
    public func preTokenize(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var pieces: [String] = []
        func add(_ range: Range<Int>) {
            pieces += ordinaryPieces(scalars[range]).map { String(String.UnicodeScalarView(scalars[$0])) }
        }
        var start = 0, i = 0
        while i < scalars.count {
            if let special = specials.match(at: i, in: scalars) {
                add(start..<i)
                pieces.append(String(String.UnicodeScalarView(scalars[i..<(i + special.length)])))
                i += special.length
                start = i
            } else {
                i += 1
            }
        }
        add(start..<scalars.count)
        return pieces
    }

    /// The ids of one pre-token: its UTF-8 bytes as byte tokens, merged by rank (GPT-2's `bpe`).
    func bpe(_ word: String) -> [Int32] {
        lock.lock()
        if let cached = cache[word] { lock.unlock(); return cached }
        lock.unlock()
        if preTokenizer == .llama3,
            let whole = idOfToken[String(String.UnicodeScalarView(word.utf8.map { byteCharacter[Int($0)] }))]
        {
            return [whole]
        }
        var symbols = word.utf8.compactMap { byteIDs[Int($0)] ?? unkID }
        while symbols.count > 1 {
            var best: (rank: Int32, id: Int32)?, bestIndex = -1
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let merge = merges[key], best == nil || merge.rank < best!.rank { (best, bestIndex) = (merge, i) }
            }
            guard let merge = best else { break }
            let (left, right) = (symbols[bestIndex], symbols[bestIndex + 1])
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == left && symbols[i + 1] == right {
                    merged.append(merge.id)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        lock.lock()
        if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
        cache[word] = symbols
        lock.unlock()
        return symbols
    }

    // MARK: - Decoding

    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0 && Int(id) < tokens.count else {
                throw TokenizerError.idOutOfRange(id: id, vocabularySize: tokens.count)
            }
            let type = tokenTypes.isEmpty ? 1 : tokenTypes[Int(id)]
            if type == 3 { continue }
            if type == 4 {
                bytes += Array(tokens[Int(id)].utf8)
                continue
            }
            for scalar in tokens[Int(id)].unicodeScalars {
                if let byte = byteOfCharacter[scalar] {
                    bytes.append(byte)
                } else {
                    bytes += Array(String(scalar).utf8)
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The piece string of `id`, or nil when out of range.
    public func piece(_ id: Int32) -> String? { id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil }

    // MARK: - The vocabulary, as files store it

    /// Every token, in GPT-2's byte characters, by id.
    public var tokenStrings: [String] { tokens }
    /// The merges ("a b", best first).
    public var mergeRules: [String] { mergeList }
    /// The token types by id (3 control, 4 user-defined, else ordinary; empty when none were given).
    public var types: [Int] { tokenTypes }
    /// How text is cut before BPE.
    public var preTokenizerKind: PreTokenizer { preTokenizer }
    /// The printable character that stands for each byte (GPT-2's `bytes_to_unicode`).
    public static var byteAlphabet: [String] { byteCharacters().0.map { String(Character($0)) } }
}
