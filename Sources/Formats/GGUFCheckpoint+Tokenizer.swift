import Tokenizers

extension GGUFCheckpoint {
    /// The tokenizer in the GGUF metadata (`tokenizer.ggml.*`): byte-level BPE (`model = gpt2`) with
    /// its pre-tokenizer (`pre`: `smollm`, `gpt2`, …), special tokens, BOS/EOS and `add_bos_token`.
    public func tokenizer() throws -> ByteLevelBPETokenizer {
        let m = file.metadata, path = sourceDescription
        guard let model = m["tokenizer.ggml.model"]?.string else {
            throw FormatError.invalidGGUF(
                path: path, field: "tokenizer.ggml.model", detail: "missing (no tokenizer in this file)")
        }
        guard model == "gpt2" else {
            throw FormatError.unsupported(
                path: path, detail: "tokenizer.ggml.model '\(model)' (byte-level BPE, 'gpt2', is read)")
        }
        let preName = m["tokenizer.ggml.pre"]?.string ?? "gpt2"
        let pre: ByteLevelBPETokenizer.PreTokenizer
        switch preName {
        case "smollm": pre = .smollm
        case "gpt2", "default": pre = .gpt2
        case "llama-bpe", "llama3", "llama-v3": pre = .llama3
        default:
            throw FormatError.unsupported(
                path: path, detail: "tokenizer.ggml.pre '\(preName)' (smollm, gpt2 and llama-bpe are read)")
        }
        func strings(_ key: String) throws -> [String] {
            guard let values = m[key]?.array else {
                throw FormatError.invalidGGUF(path: path, field: key, detail: "missing or not an array")
            }
            return try values.map {
                guard let text = $0.string else {
                    throw FormatError.invalidGGUF(path: path, field: key, detail: "expected strings")
                }
                return text
            }
        }
        let tokens = try strings("tokenizer.ggml.tokens")
        let types = try (m["tokenizer.ggml.token_type"]?.array ?? []).map {
            guard let type = $0.int else {
                throw FormatError.invalidGGUF(
                    path: path, field: "tokenizer.ggml.token_type", detail: "expected integers")
            }
            return type
        }
        func id(_ key: String) throws -> Int32? {
            guard let raw = m[key] else { return nil }
            guard let value = raw.int, value >= 0, value < tokens.count else {
                throw FormatError.invalidGGUF(
                    path: path, field: key, detail: "\(raw) is not a token id below \(tokens.count)")
            }
            return Int32(value)
        }
        do {
            return try ByteLevelBPETokenizer(
                path: path, tokens: tokens, merges: try strings("tokenizer.ggml.merges"), tokenTypes: types,
                bosID: try id("tokenizer.ggml.bos_token_id"), eosID: try id("tokenizer.ggml.eos_token_id"),
                unkID: try id("tokenizer.ggml.unknown_token_id"),
                addsBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false, preTokenizer: pre)
        } catch TokenizerError.invalidModel(_, let reason) {
            throw FormatError.invalidGGUF(path: path, field: "tokenizer.ggml", detail: reason)
        }
    }
}
