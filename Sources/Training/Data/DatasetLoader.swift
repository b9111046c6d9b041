import Foundation
import Tokenizers

/// The training and evaluation examples a run config names.
public enum DatasetLoader {
    /// Examples of `path` for the config's dataset kind.
    public static func examples(
        _ path: String, data: RunConfig.DataSection, tokenizer: any Tokenizer,
        limit: Int = 0
    ) throws -> [Example] {
        let length = data.maxSeqLen
        var examples: [Example]
        switch data.dataset {
        case .gsm8k:
            examples = try GSM8K.load(path, limit: limit).map {
                try GSM8K.example($0, tokenizer: tokenizer, maxLength: length)
            }
        case .wikitext2:
            examples = TextBlocks.examples(
                try TextBlocks.hfBlocks(
                    rows: TextBlocks.wikitextRows(try TextBlocks.read(path)),
                    tokenizer: tokenizer, length: length))
        case .text:
            examples = TextBlocks.examples(
                try TextBlocks.hfBlocks(rows: [try TextBlocks.read(path)], tokenizer: tokenizer, length: length))
        case .jsonl:
            examples = try JSONLines.read(path, limit: limit) { object, line in
                if let text = object["text"] as? String {
                    let ids = Array(try tokenizer.encode(text, addBOS: true, addEOS: true).prefix(length))
                    return Example(tokens: ids, labels: ids)
                }
                guard let prompt = object["prompt"] as? String, let completion = object["completion"] as? String else {
                    throw TrainingError.badData(
                        file: path, line: line, detail: "expected \"text\", or \"prompt\" and \"completion\"")
                }
                let promptCount = try tokenizer.encode(prompt, addBOS: true).count
                let ids = try tokenizer.encode(prompt + completion, addBOS: true, addEOS: true)
                let labels = ids.enumerated().map { $0.offset < promptCount ? Int32(-100) : $0.element }
                return Example(tokens: Array(ids.prefix(length)), labels: Array(labels.prefix(length)))
            }
        }
        if limit > 0 { examples = Array(examples.prefix(limit)) }
        // An example whose targets were all cut off by max_seq_len teaches nothing: drop it.
        examples = examples.filter { $0.targetCount > 0 }
        guard !examples.isEmpty else {
            throw TrainingError.badData(
                file: path, line: nil, detail: "no example has a target within max_seq_len = \(length) tokens")
        }
        return examples
    }
}
