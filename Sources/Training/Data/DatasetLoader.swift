import ChatTemplates
import Foundation
import Tokenizers

/// How many examples a data file gave: kept whole, kept cut to `max_seq_len`, and refused (no
/// target left within `max_seq_len`, no assistant turn, or a template that raised for it).
public struct DataCounts: Codable, Equatable, Sendable {
    public var kept = 0, truncated = 0, refused = 0
    /// The first refusal, `file:line: reason` (the rest are counted).
    public var firstRefusal: String? = nil

    /// No example yet.
    public init() {}

    /// The examples training uses (kept whole or cut).
    public var usable: Int { kept + truncated }
}

/// The counts of a run's training and evaluation files.
public struct DataCountsByFile: Codable, Equatable, Sendable {
    public let train: DataCounts
    public let eval: DataCounts?
    /// The counts of both files.
    public init(train: DataCounts, eval: DataCounts?) { (self.train, self.eval) = (train, eval) }
}

/// The examples of a data file and their counts.
public struct LoadedData: Sendable {
    public let examples: [Example]
    public let counts: DataCounts
}

/// The training and evaluation examples a run config names.
public enum DatasetLoader {
    /// Examples of `path` for the config's dataset kind, cut to `data.max_seq_len`; `chat` renders
    /// conversations (required for `dataset: chat`). Nothing is dropped without being counted.
    public static func load(
        _ path: String, data: RunConfig.DataSection, tokenizer: any Tokenizer, chat: ChatEncoder? = nil,
        limit: Int = 0
    ) throws -> LoadedData {
        let length = data.maxSeqLen
        var counts = DataCounts()
        var candidates: [(line: Int?, example: Example?, refusal: String?)] = []
        switch data.dataset {
        case .gsm8k:
            let problems = try GSM8K.load(path, limit: limit)
            for (index, problem) in problems.enumerated() {
                let example = try GSM8K.example(problem, tokenizer: tokenizer, maxLength: Int.max)
                candidates.append((index + 1, data.trainOn == .all ? example.allTrained : example, nil))
            }
        case .wikitext2, .text:
            let rows =
                try data.dataset == .text ? [TextBlocks.read(path)] : TextBlocks.wikitextRows(TextBlocks.read(path))
            let blocks = try TextBlocks.hfBlocks(rows: rows, tokenizer: tokenizer, length: length)
            candidates = TextBlocks.examples(blocks).map { (nil, $0, nil) }
        case .jsonl:
            candidates = try JSONLines.read(path, limit: limit) { object, line in
                (line, try promptCompletion(object, file: path, line: line, tokenizer: tokenizer, data: data), nil)
            }
        case .chat:
            guard let chat else {
                throw TrainingError.invalidValue(
                    file: path, key: "data.dataset", detail: "chat data needs a chat template")
            }
            for conversation in try ChatData.read(path, limit: limit) {
                do {
                    let (tokens, trained) = try chat.encode(conversation.messages, trainOn: data.trainOn)
                    let labels = zip(tokens, trained).map { $1 ? $0 : Example.ignored }
                    candidates.append((conversation.line, Example(tokens: tokens, labels: labels), nil))
                } catch let refusal as ChatEncoder.Refusal {
                    candidates.append((conversation.line, nil, refusal.description))
                }
            }
        }
        if limit > 0 { candidates = Array(candidates.prefix(limit)) }
        var examples: [Example] = []
        for (line, example, refusal) in candidates {
            let place = path + (line.map { ":\($0)" } ?? "")
            guard var example else {
                counts.refused += 1
                if counts.firstRefusal == nil { counts.firstRefusal = "\(place): \(refusal ?? "refused")" }
                continue
            }
            let cut = example.tokens.count > length
            if cut {
                example = Example(
                    tokens: Array(example.tokens.prefix(length)), labels: Array(example.labels.prefix(length)))
            }
            // An example whose targets were all cut off by max_seq_len teaches nothing.
            guard example.targetCount > 0 else {
                counts.refused += 1
                if counts.firstRefusal == nil {
                    counts.firstRefusal = "\(place): no target within max_seq_len = \(length) tokens"
                }
                continue
            }
            if cut { counts.truncated += 1 } else { counts.kept += 1 }
            examples.append(example)
        }
        guard !examples.isEmpty else {
            throw TrainingError.badData(
                file: path, line: nil,
                detail: "no usable example (\(counts.refused) refused; first: \(counts.firstRefusal ?? "none"))")
        }
        return LoadedData(examples: examples, counts: counts)
    }

    /// A `{"text": …}` or `{"prompt": …, "completion": …}` line; the prompt is masked unless
    /// `train_on: all`.
    static func promptCompletion(
        _ object: [String: Any], file: String, line: Int, tokenizer: any Tokenizer, data: RunConfig.DataSection
    ) throws -> Example {
        if let text = object["text"] as? String {
            let ids = try tokenizer.encode(text, addBOS: true, addEOS: true)
            return Example(tokens: ids, labels: ids)
        }
        guard let prompt = object["prompt"] as? String, let completion = object["completion"] as? String else {
            throw TrainingError.badData(
                file: file, line: line, detail: "expected \"text\", or \"prompt\" and \"completion\"")
        }
        let promptCount = try tokenizer.encode(prompt, addBOS: true).count
        let ids = try tokenizer.encode(prompt + completion, addBOS: true, addEOS: true)
        let masked = data.trainOn != .all
        return Example(
            tokens: ids,
            labels: ids.enumerated().map { masked && $0.offset < promptCount ? Example.ignored : $0.element })
    }
}
