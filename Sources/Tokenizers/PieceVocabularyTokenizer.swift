import Foundation

/// SentencePiece's BPE tokenizer run from a vocabulary (pieces, scores, token types) as a GGUF
/// holds it (`tokenizer.ggml.model = llama`: Llama-2, Mistral, TinyLlama, Phi-3), the way
/// llama.cpp runs it: user-defined pieces matched whole first; each remaining fragment gets the
/// dummy space prefix (at the start and after a special piece, when `addSpacePrefix`), spaces
/// become `▁`, then adjacent symbols (UTF-8 characters to begin with) are merged best score first
/// (leftmost on a tie) while the pair is a piece; a symbol that is no piece (a lone character
/// outside the vocabulary) becomes its bytes' `<0xXX>` pieces. (llama.cpp also keeps the pairs
/// each merged piece came from, to re-split a symbol that is no piece; a merged symbol always is
/// one, so that branch never runs and is left out.)
/// reference: llama.cpp llama-vocab.cpp (llm_tokenizer_spm_session, tokenizer_st_partition);
/// google/sentencepiece bpe_model.cc
public final class PieceVocabularyTokenizer: Tokenizer, @unchecked Sendable {
    /// The GGUF token types (`tokenizer.ggml.token_type`).
    public enum PieceType: Int, Sendable {
        case normal = 1, unknown, control, userDefined, unused, byte
    }

    public let path: String
    public var vocabularySize: Int { pieces.count }
    public let bosID: Int32?
    public let eosID: Int32?
    public let unkID: Int32?
    public let addsBOS: Bool
    /// Whether a space is put before the text and after each special piece (`add_space_prefix`).
    public let addSpacePrefix: Bool
    /// The pieces (`▁` for a space), their scores and types, as stored.
    public let pieces: [String]
    public let scores: [Float]
    public let types: [Int]
    /// Piece bytes → id (a later duplicate wins, as in llama.cpp's map).
    let table: PieceTable
    /// The id of each byte: its `<0xXX>` piece, else the byte itself as a piece.
    let byteIDs: [Int32?]
    /// User-defined pieces, matched whole before anything else, longest first.
    let userDefined: WholePieceIndex<UInt8>

    /// A tokenizer from a vocabulary. `types` may be empty (all normal); scores must match.
    /// - Throws: `TokenizerError.invalidModel` when the arrays disagree or a score is not finite.
    public init(
        path: String, pieces: [String], scores: [Float], types: [Int], bosID: Int32?, eosID: Int32?,
        unkID: Int32?, addsBOS: Bool, addSpacePrefix: Bool
    ) throws {
        guard scores.count == pieces.count, types.isEmpty || types.count == pieces.count else {
            throw TokenizerError.invalidModel(
                path: path,
                reason: "\(pieces.count) pieces with \(scores.count) scores and \(types.count) token types")
        }
        if let bad = scores.firstIndex(where: { !$0.isFinite }) {
            throw TokenizerError.invalidModel(path: path, reason: "piece \(bad) has the score \(scores[bad])")
        }
        self.path = path
        self.pieces = pieces
        self.scores = scores
        self.types = types
        self.bosID = bosID
        self.eosID = eosID
        self.unkID = unkID
        self.addsBOS = addsBOS
        self.addSpacePrefix = addSpacePrefix
        let table = PieceTable(pieces)
        self.table = table
        func id(_ piece: String) -> Int32? {
            var bytes = Array(piece.utf8)
            return bytes.withUnsafeMutableBufferPointer { table.id($0.baseAddress!, $0.count) }
        }
        byteIDs = (0..<256).map { byte in
            id(String(format: "<0x%02X>", byte)) ?? (byte < 0x80 ? id(String(UnicodeScalar(UInt8(byte)))) : nil)
        }
        userDefined = WholePieceIndex(
            types.enumerated().filter { $0.element == PieceType.userDefined.rawValue }.map {
                (Array(pieces[$0.offset].utf8), Int32($0.offset))
            })
    }

    // MARK: - Encoding

    public func encode(_ text: String, addBOS: Bool, addEOS: Bool) throws -> [Int32] {
        var ids: [Int32] = []
        if addBOS && addsBOS, let bosID { ids.append(bosID) }
        let bytes = Array(text.utf8)
        var previousWasSpecial = true  // the dummy prefix goes before the first fragment
        var start = 0
        var i = 0
        func flush(upTo end: Int) {
            guard end > start else { return }
            encodeFragment(bytes[start..<end], prefixed: addSpacePrefix && previousWasSpecial, into: &ids)
            previousWasSpecial = false
        }
        while i < bytes.count {
            guard let match = userDefined.match(at: i, in: bytes) else {
                i += 1
                continue
            }
            flush(upTo: i)
            ids.append(match.id)
            previousWasSpecial = true
            i += match.length
            start = i
        }
        flush(upTo: bytes.count)
        if addEOS, let eosID { ids.append(eosID) }
        return ids
    }

    /// One symbol of the merge: a run of bytes of the fragment, linked to its neighbours.
    private struct Symbol {
        var start: Int, length: Int
        var previous: Int, next: Int
    }

    /// Appends the ids of one fragment of ordinary text.
    private func encodeFragment(_ fragment: ArraySlice<UInt8>, prefixed: Bool, into ids: inout [Int32]) {
        var text: [UInt8] = prefixed ? [0xE2, 0x96, 0x81] : []
        text.reserveCapacity(fragment.count + 3)
        for byte in fragment {
            if byte == 0x20 { text += [0xE2, 0x96, 0x81] } else { text.append(byte) }
        }
        var symbols: [Symbol] = []
        var offset = 0
        while offset < text.count {
            let length = min(Self.utf8Length(leading: text[offset]), text.count - offset)
            symbols.append(Symbol(start: offset, length: length, previous: symbols.count - 1, next: symbols.count + 1))
            offset += length
        }
        guard !symbols.isEmpty else { return }
        symbols[symbols.count - 1].next = -1
        text.withUnsafeBufferPointer { text in
            let base = text.baseAddress!
            var queue = BigramHeap()
            func tryPair(_ left: Int, _ right: Int) {
                guard left >= 0, right >= 0 else { return }
                let length = symbols[left].length + symbols[right].length
                guard let id = table.id(base + symbols[left].start, length) else { return }
                queue.push(Bigram(left: left, right: right, score: scores[Int(id)], length: length))
            }
            for index in 1..<symbols.count { tryPair(index - 1, index) }
            while let bigram = queue.pop() {
                let (left, right) = (symbols[bigram.left], symbols[bigram.right])
                // Skip a pair one of whose symbols has merged since it was queued.
                guard left.length > 0, right.length > 0, left.length + right.length == bigram.length else { continue }
                symbols[bigram.left].length += right.length
                symbols[bigram.right].length = 0
                symbols[bigram.left].next = right.next
                if right.next >= 0 { symbols[right.next].previous = bigram.left }
                tryPair(symbols[bigram.left].previous, bigram.left)
                tryPair(bigram.left, symbols[bigram.left].next)
            }
            var index = 0
            while index != -1 {
                let symbol = symbols[index]
                if let id = table.id(base + symbol.start, symbol.length) {
                    ids.append(id)
                } else {
                    for at in symbol.start..<(symbol.start + symbol.length) {
                        if let id = byteIDs[Int(base[at])] ?? unkID { ids.append(id) }
                    }
                }
                index = symbol.next
            }
        }
    }

    /// The length of the UTF-8 sequence a byte starts (1 for a continuation byte, as llama.cpp).
    static func utf8Length(leading byte: UInt8) -> Int {
        switch byte >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }

    // MARK: - Decoding

    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0, Int(id) < pieces.count else {
                throw TokenizerError.idOutOfRange(id: id, vocabularySize: pieces.count)
            }
            let type = types.isEmpty ? PieceType.normal.rawValue : types[Int(id)]
            switch PieceType(rawValue: type) {
            case .control, .unknown, .unused: continue
            case .byte:
                let piece = pieces[Int(id)]
                if piece.count == 6, let value = UInt8(piece.dropFirst(3).prefix(2), radix: 16) {
                    bytes.append(value)
                }
            default:
                // `▁` (E2 96 81) is a space; replaced byte-wise, as a following combining mark would
                // hide it from a search by characters.
                let piece = Array(pieces[Int(id)].utf8)
                var at = 0
                while at < piece.count {
                    if at + 2 < piece.count, piece[at] == 0xE2, piece[at + 1] == 0x96, piece[at + 2] == 0x81 {
                        bytes.append(0x20)
                        at += 3
                    } else {
                        bytes.append(piece[at])
                        at += 1
                    }
                }
            }
        }
        if addSpacePrefix, bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func piece(_ id: Int32) -> String? { id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : nil }
}

/// A candidate merge of two adjacent symbols into the piece of `score`, `length` bytes long.
private struct Bigram {
    let left: Int, right: Int
    let score: Float
    let length: Int

    /// Whether `self` is merged before `other`: the higher score, then the leftmost.
    func precedes(_ other: Bigram) -> Bool { score > other.score || (score == other.score && left < other.left) }
}

/// The bigrams waiting to merge, the next one on top (a binary heap).
private struct BigramHeap {
    private var items: [Bigram] = []

    mutating func push(_ bigram: Bigram) {
        items.append(bigram)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Bigram? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < items.count, items[left].precedes(items[first]) { first = left }
            if right < items.count, items[right].precedes(items[first]) { first = right }
            guard first != parent else { return top }
            items.swapAt(parent, first)
            parent = first
        }
    }
}

extension PieceVocabularyTokenizer {
    /// The vocabulary of a SentencePiece model (pieces, scores, GGUF token types), run as
    /// llama.cpp runs it: what `loft export --gguf` writes of it, read back. The dummy prefix is
    /// on, whitespace is never collapsed (llama.cpp has no such option).
    public convenience init(sentencePiece model: SentencePieceTokenizer) throws {
        let pieces = (0..<model.vocabularySize).map { model.piece(Int32($0)) ?? "" }
        try self.init(
            path: model.path, pieces: pieces, scores: model.scores, types: model.pieceTypes.map(Int.init),
            bosID: model.bosID, eosID: model.eosID, unkID: model.unkID, addsBOS: model.addsBOS, addSpacePrefix: true)
    }
}
