import Foundation
import Support

/// Hugging Face `tokenizer.json` (model type BPE, ByteLevel) and `tokenizer_config.json`, read and
/// written, so that byte-level BPE models in HF folders load, and a tokenizer taken from a GGUF
/// can travel with a `loft quantize` folder.
/// reference: huggingface/tokenizers (tokenizer.json serialization), transformers tokenizer_config.json
extension ByteLevelBPETokenizer {
    /// Reads `tokenizer.json` (and `tokenizer_config.json` beside it, when present, for BOS, EOS
    /// and `add_bos_token`) in `folder`.
    public convenience init(huggingFaceFolder folder: String) throws {
        let path = (folder as NSString).appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.fileNotFound(path: path)
        }
        let json: [String: Any]
        switch JSONText.object(data) {
        case .success(let object): json = object
        case .failure(let problem): throw TokenizerError.invalidModel(path: path, reason: problem.detail)
        }
        guard let model = json["model"] as? [String: Any] else {
            throw TokenizerError.invalidModel(path: path, reason: "no 'model' object")
        }
        guard model["type"] as? String == "BPE", let vocab = model["vocab"] as? [String: Int] else {
            throw TokenizerError.invalidModel(path: path, reason: "model.type must be BPE with a vocab of ids")
        }
        guard vocab.values.allSatisfy({ $0 >= 0 && $0 < 1 << 24 }) else {
            throw TokenizerError.invalidModel(path: path, reason: "vocab ids outside 0..<2^24")
        }
        var added: [(id: Int, content: String, special: Bool)] = []
        for entry in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = entry["id"] as? Int, id >= 0, id < 1 << 24, let content = entry["content"] as? String else {
                throw TokenizerError.invalidModel(path: path, reason: "added_tokens entries need an id and a content")
            }
            added.append((id, content, entry["special"] as? Bool ?? false))
        }
        let size = max((vocab.values.max() ?? -1) + 1, (added.map(\.id).max() ?? -1) + 1)
        var tokens = [String](repeating: "", count: size), types = [Int](repeating: 1, count: size)
        for (token, id) in vocab { tokens[id] = token }
        for token in added {
            tokens[token.id] = token.content
            types[token.id] = token.special ? 3 : 4
        }
        let merges: [String] = try (model["merges"] as? [Any] ?? []).map { item in
            if let text = item as? String { return text }
            if let pair = item as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw TokenizerError.invalidModel(path: path, reason: "a merge is neither \"a b\" nor [a, b]")
        }
        let pre = Self.preTokenizer(of: json["pre_tokenizer"])
        guard let preTokenizer = pre else {
            throw TokenizerError.invalidModel(
                path: path,
                reason: "pre_tokenizer is not ByteLevel (optionally after Digits(individual_digits)): not supported")
        }
        let config =
            (FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent("tokenizer_config.json")))
            .flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] } ?? [:]
        func special(_ key: String) -> Int32? {
            let value = config[key]
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String
            return text.flatMap { vocab[$0] ?? added.first(where: { $0.content == text })?.id }.map(Int32.init)
        }
        let unk = (model["unk_token"] as? String).flatMap { vocab[$0] }.map(Int32.init)
        try self.init(
            path: path, tokens: tokens, merges: merges, tokenTypes: types, bosID: special("bos_token"),
            eosID: special("eos_token"),
            unkID: unk, addsBOS: config["add_bos_token"] as? Bool ?? false, preTokenizer: preTokenizer)
    }

    /// Llama-3's pre-tokenizer regex as `tokenizer.json` spells it.
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Qwen2's pre-tokenizer regex as `tokenizer.json` spells it.
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// `smollm` for `Sequence[Digits(individual), ByteLevel]`, `gpt2` for a lone `ByteLevel`,
    /// `llama3` for `Sequence[Split(Llama-3's regex, Isolated), ByteLevel(use_regex: false)]`,
    /// `qwen2` for the same with Qwen2's regex.
    static func preTokenizer(of value: Any?) -> PreTokenizer? {
        guard let object = value as? [String: Any] else { return nil }
        switch object["type"] as? String {
        case "ByteLevel": return .gpt2
        case "Sequence":
            let steps = (object["pretokenizers"] as? [[String: Any]] ?? []).map { ($0["type"] as? String ?? "", $0) }
            if steps.count == 1, steps[0].0 == "ByteLevel" { return .gpt2 }
            if steps.count == 2, steps[0].0 == "Digits", steps[0].1["individual_digits"] as? Bool == true,
                steps[1].0 == "ByteLevel"
            {
                return .smollm
            }
            // Isolated regex splits, then ByteLevel without its own regex: named by the patterns.
            if let last = steps.last, last.0 == "ByteLevel", last.1["use_regex"] as? Bool == false,
                steps.dropLast().allSatisfy({ $0.0 == "Split" && $0.1["behavior"] as? String == "Isolated" })
            {
                let patterns = steps.dropLast().map { ($0.1["pattern"] as? [String: Any])?["Regex"] as? String ?? "" }
                return [PreTokenizer.llama3, .qwen2, .deepseekLLM, .deepseekCoder].first {
                    $0.splitPatterns == patterns
                }
            }
            return nil
        default: return nil
        }
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` (with `chatTemplate`, when given) into
    /// `folder` (each whole, then renamed).
    public func writeHuggingFace(to folder: URL, chatTemplate: String? = nil) throws {
        var vocab: [String: Int] = [:], added: [[String: Any]] = []
        for (id, token) in tokens.enumerated() {
            if tokenTypes.indices.contains(id), tokenTypes[id] == 3 || tokenTypes[id] == 4 {
                added.append([
                    "id": id, "content": token, "special": tokenTypes[id] == 3, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false,
                ])
            }
            if vocab[token] == nil { vocab[token] = id }
        }
        let byteLevel: [String: Any] = [
            "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true,
        ]
        let pre: [String: Any]
        switch preTokenizer {
        case .gpt2: pre = byteLevel
        case .smollm:
            pre = ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        case .llama3, .qwen2, .deepseekLLM, .deepseekCoder:
            var plain = byteLevel
            plain["use_regex"] = false
            let splits: [[String: Any]] = preTokenizer.splitPatterns.map {
                ["type": "Split", "behavior": "Isolated", "pattern": ["Regex": $0], "invert": false]
            }
            pre = ["type": "Sequence", "pretokenizers": splits + [plain]]
        }
        var model: [String: Any] = [
            "type": "BPE", "vocab": vocab, "merges": mergeList, "dropout": NSNull(),
            "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": preTokenizer == .llama3,
        ]
        model["unk_token"] = unkID.map { tokens[Int($0)] } ?? NSNull()
        let tokenizer: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": NSNull(), "pre_tokenizer": pre, "post_processor": NSNull(),
            "decoder": byteLevel, "model": model,
        ]
        var config: [String: Any] = ["add_bos_token": addsBOS, "tokenizer_class": "PreTrainedTokenizerFast"]
        if let bosID { config["bos_token"] = tokens[Int(bosID)] }
        if let eosID { config["eos_token"] = tokens[Int(eosID)] }
        if let chatTemplate { config["chat_template"] = chatTemplate }
        for (name, object) in [("tokenizer.json", tokenizer), ("tokenizer_config.json", config)] {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            try data.write(to: folder.appendingPathComponent(name), options: .atomic)
        }
    }
}

extension ByteLevelBPETokenizer.PreTokenizer {
    /// The `Split` regexes of its `tokenizer.json` pre-tokenizer, in order (empty for those
    /// written otherwise).
    /// reference: llama.cpp llama-vocab.cpp (regex_exprs, as the models' tokenizer.json spell them)
    var splitPatterns: [String] {
        typealias Tokenizer = ByteLevelBPETokenizer
        switch self {
        case .gpt2, .smollm: return []
        case .llama3: return [Tokenizer.llama3Pattern]
        case .qwen2: return [Tokenizer.qwen2Pattern]
        case .deepseekLLM:
            return [
                "[\r\n]", "\\s?[\(Tokenizer.deepseekLetters)]+", "\\s?[\(Tokenizer.deepseekPunctuation)]+", "\\s+$",
                "[\(Tokenizer.cjkRanges)]+", "\\p{N}+",
            ]
        case .deepseekCoder:
            return ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\(Tokenizer.cjkRanges)]+", "\\p{N}"]
        }
    }
}
