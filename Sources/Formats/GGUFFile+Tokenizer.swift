import Tokenizers

extension GGUFCheckpoint {
    /// The tokenizer in the file's metadata (see `GGUFFile.tokenizer()`).
    public func tokenizer() throws -> any Tokenizer { try file.tokenizer() }
}

extension GGUFFile {
    /// The tokenizer in the metadata (`tokenizer.ggml.*`), whatever the architecture: byte-level
    /// BPE (`model = gpt2`) with its pre-tokenizer (`pre`), or a SentencePiece vocabulary
    /// (`model = llama`: pieces, scores, types, `add_space_prefix`), with the special ids and
    /// the add-BOS policy (llama.cpp's defaults: on for SentencePiece, off for BPE). A file with
    /// token embeddings must have one row per token.
    /// reference: llama.cpp llama-vocab.cpp (llama_vocab::impl::load), gguf-py constants (keys)
    public func tokenizer() throws -> any Tokenizer {
        guard let model = metadata["tokenizer.ggml.model"]?.string else {
            throw FormatError.invalidGGUF(
                path: path, field: "tokenizer.ggml.model", detail: "missing (no tokenizer in this file)")
        }
        let tokenizer: any Tokenizer
        do {
            switch model {
            case "gpt2": tokenizer = try byteLevelTokenizer()
            case "llama": tokenizer = try pieceTokenizer()
            default:
                throw FormatError.unsupported(
                    path: path,
                    detail: "tokenizer.ggml.model '\(model)' (byte-level BPE 'gpt2' and SentencePiece 'llama' are read)"
                )
            }
        } catch TokenizerError.invalidModel(_, let reason) {
            throw FormatError.invalidGGUF(path: path, field: "tokenizer.ggml", detail: reason)
        }
        if let embedding = tensors["token_embd.weight"], embedding.shape.count == 2,
            embedding.shape[0] != tokenizer.vocabularySize
        {
            throw FormatError.invalidGGUF(
                path: path, field: "tokenizer.ggml.tokens",
                detail: "\(tokenizer.vocabularySize) tokens for \(embedding.shape[0]) rows of token_embd.weight")
        }
        return tokenizer
    }

    /// `tokenizer.ggml.model = gpt2`.
    func byteLevelTokenizer() throws -> ByteLevelBPETokenizer {
        let preName = metadata["tokenizer.ggml.pre"]?.string ?? "gpt2"
        guard let pre = ByteLevelBPETokenizer.PreTokenizer(llamaCppName: preName) else {
            let known = ByteLevelBPETokenizer.PreTokenizer.llamaCppNames.joined(separator: ", ")
            throw FormatError.unsupported(path: path, detail: "tokenizer.ggml.pre '\(preName)' (read: \(known))")
        }
        let tokens = try strings("tokenizer.ggml.tokens")
        return try ByteLevelBPETokenizer(
            path: path, tokens: tokens, merges: try strings("tokenizer.ggml.merges"), tokenTypes: try tokenTypes(),
            bosID: try tokenID("tokenizer.ggml.bos_token_id", count: tokens.count),
            eosID: try tokenID("tokenizer.ggml.eos_token_id", count: tokens.count),
            unkID: try tokenID("tokenizer.ggml.unknown_token_id", count: tokens.count),
            addsBOS: metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false, preTokenizer: pre)
    }

    /// `tokenizer.ggml.model = llama`.
    func pieceTokenizer() throws -> PieceVocabularyTokenizer {
        let pieces = try strings("tokenizer.ggml.tokens")
        let key = "tokenizer.ggml.scores"
        guard let values = metadata[key]?.array else {
            throw FormatError.invalidGGUF(path: path, field: key, detail: "missing or not an array")
        }
        let scores = try values.map { value -> Float in
            guard let score = value.double else {
                throw FormatError.invalidGGUF(path: path, field: key, detail: "expected numbers")
            }
            return Float(score)
        }
        return try PieceVocabularyTokenizer(
            path: path, pieces: pieces, scores: scores, types: try tokenTypes(),
            bosID: try tokenID("tokenizer.ggml.bos_token_id", count: pieces.count),
            eosID: try tokenID("tokenizer.ggml.eos_token_id", count: pieces.count),
            unkID: try tokenID("tokenizer.ggml.unknown_token_id", count: pieces.count),
            addsBOS: metadata["tokenizer.ggml.add_bos_token"]?.bool ?? true,
            addSpacePrefix: metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? true)
    }

    /// The array of strings at `key`.
    func strings(_ key: String) throws -> [String] {
        guard let values = metadata[key]?.array else {
            throw FormatError.invalidGGUF(path: path, field: key, detail: "missing or not an array")
        }
        return try values.map {
            guard let text = $0.string else {
                throw FormatError.invalidGGUF(path: path, field: key, detail: "expected strings")
            }
            return text
        }
    }

    /// `tokenizer.ggml.token_type` (empty when absent).
    func tokenTypes() throws -> [Int] {
        try (metadata["tokenizer.ggml.token_type"]?.array ?? []).map {
            guard let type = $0.int else {
                throw FormatError.invalidGGUF(
                    path: path, field: "tokenizer.ggml.token_type", detail: "expected integers")
            }
            return type
        }
    }

    /// The token id at `key`, if present, checked against `count` tokens.
    func tokenID(_ key: String, count: Int) throws -> Int32? {
        guard let raw = metadata[key] else { return nil }
        guard let value = raw.int, value >= 0, value < count else {
            throw FormatError.invalidGGUF(path: path, field: key, detail: "\(raw) is not a token id below \(count)")
        }
        return Int32(value)
    }
}
