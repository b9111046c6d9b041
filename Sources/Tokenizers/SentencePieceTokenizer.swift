import CSentencePiece
import Foundation

/// Problems loading or using a tokenizer.
public enum TokenizerError: Error, CustomStringConvertible {
    /// The model file does not exist.
    case fileNotFound(path: String)
    /// The file exists but is not a valid SentencePiece model.
    case invalidModel(path: String, reason: String)
    /// Encoding or decoding failed inside SentencePiece.
    case sentencePiece(String)
    /// An id outside the vocabulary was given to decode.
    case idOutOfRange(id: Int32, vocabularySize: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "tokenizer model not found: \(path)"
        case .invalidModel(let path, let reason): return "\(path): not a valid tokenizer: \(reason)"
        case .sentencePiece(let message): return "SentencePiece: \(message)"
        case .idOutOfRange(let id, let size): return "token id \(id) is outside the vocabulary of \(size)"
        }
    }
}

/// A SentencePiece tokenizer (`tokenizer.model`, as Llama-2 and llama2.c's tok512 use).
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    private let processor: OpaquePointer
    /// The file it was loaded from.
    public let path: String
    /// The number of pieces.
    public let vocabularySize: Int
    /// Special ids; `nil` when the model has none.
    public let bosID: Int32?, eosID: Int32?, unkID: Int32?, padID: Int32?

    /// Loads a `.model` file.
    public init(path: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw TokenizerError.fileNotFound(path: path)
        }
        guard !isFolder.boolValue else {
            throw TokenizerError.invalidModel(path: path, reason: "a folder, not a SentencePiece tokenizer.model file")
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let processor = spm_load(path, &error, error.count) else {
            // SentencePiece's own text names its source file and line; the user needs the cause.
            let detail = String(cString: error)
            let cause = detail.split(separator: "[").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? detail
            throw TokenizerError.invalidModel(
                path: path,
                reason: detail.contains("ParseFromArray")
                    ? "not a SentencePiece model (the protobuf does not parse)"
                    : "SentencePiece refused it (\(cause))"
            )
        }
        self.processor = processor
        self.path = path
        vocabularySize = Int(spm_vocab_size(processor))
        let optionalID: (Int32) -> Int32? = { $0 >= 0 ? $0 : nil }
        bosID = optionalID(spm_bos_id(processor))
        eosID = optionalID(spm_eos_id(processor))
        unkID = optionalID(spm_unk_id(processor))
        padID = optionalID(spm_pad_id(processor))
    }

    deinit { spm_free(processor) }

    /// SentencePiece models (Llama-2's, llama2.c's) expect BOS whenever they have one.
    public var addsBOS: Bool { bosID != nil }

    /// The ids of `text`, optionally with BOS first and EOS last.
    public func encode(_ text: String, addBOS: Bool = false, addEOS: Bool = false) throws -> [Int32] {
        var error = [CChar](repeating: 0, count: 512)
        var raw: UnsafeMutablePointer<Int32>?
        let bytes = Array(text.utf8CString)  // NUL-terminated, so never empty
        let count = bytes.withUnsafeBufferPointer {
            spm_encode(processor, $0.baseAddress!, bytes.count - 1, &raw, &error, error.count)
        }
        guard count >= 0, let raw else { throw TokenizerError.sentencePiece(String(cString: error)) }
        defer { spm_free_ids(raw) }
        var ids = [Int32]()
        ids.reserveCapacity(count + 2)
        if addBOS, let bosID { ids.append(bosID) }
        ids.append(contentsOf: UnsafeBufferPointer(start: raw, count: count))
        if addEOS, let eosID { ids.append(eosID) }
        return ids
    }

    /// The text of `ids` (special ids decode to nothing).
    public func decode(_ ids: [Int32]) throws -> String {
        var error = [CChar](repeating: 0, count: 512)
        let text = ids.withUnsafeBufferPointer { spm_decode(processor, $0.baseAddress, ids.count, &error, error.count) }
        guard let text else { throw TokenizerError.sentencePiece(String(cString: error)) }
        defer { spm_free_string(text) }
        return String(cString: text)
    }

    /// The piece string of `id` (`▁` marks a space), or `nil` when out of range.
    public func piece(_ id: Int32) -> String? {
        guard let raw = spm_id_to_piece(processor, id) else { return nil }
        defer { spm_free_string(raw) }
        return String(cString: raw)
    }

    /// The id of a piece string, or the unknown id when it is not in the vocabulary.
    public func id(ofPiece piece: String) -> Int32 { spm_piece_to_id(processor, piece) }

    /// The score of every piece, by id (log-probabilities in a unigram model, merge ranks in a BPE one).
    public var scores: [Float] { (0..<vocabularySize).map { spm_score(processor, Int32($0)) } }

    /// The kind of every piece, by id, numbered as GGUF's `tokenizer.ggml.token_type`:
    /// 1 normal, 2 unknown, 3 control, 5 unused, 6 byte.
    public var pieceTypes: [Int32] { (0..<vocabularySize).map { spm_piece_type(processor, Int32($0)) } }
}
