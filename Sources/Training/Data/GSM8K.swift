import ChatTemplates
import Foundation
import Support
import Tokenizers

/// GSM8K in the LoftQ format: prompt = question + the instruction line; target = the answer
/// with `####` replaced by `The final answer is: `, then EOS; loss on target tokens only.
/// reference: LoftQ (Li et al. 2023) GSM8K fine-tuning recipe
public enum GSM8K {
    /// The instruction appended to every question.
    public static let instruction =
        "\nAnswer the above question. First think step by step and then answer the final number.\n"

    /// One problem.
    public struct Problem: Equatable, Sendable {
        public let question: String, answer: String
        /// A problem from its two fields.
        public init(question: String, answer: String) { (self.question, self.answer) = (question, answer) }

        /// The prompt text.
        public var prompt: String { question + GSM8K.instruction }
        /// The target text (without EOS).
        public var target: String { answer.replacingOccurrences(of: "####", with: "The final answer is: ") }
        /// The problem as a chat: the prompt as the user's turn (the answer as the assistant's),
        /// as `scripts/gsm8k-to-chat.py` writes it for `dataset: chat`.
        public func chat(answered: Bool) -> [ChatMessage] {
            [ChatMessage(role: "user", content: prompt)]
                + (answered ? [ChatMessage(role: "assistant", content: target)] : [])
        }
        /// The gold number (commas stripped), from after `####`.
        public var goldAnswer: String {
            guard let range = answer.range(of: "####", options: .backwards) else { return "" }
            return answer[range.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(
                of: ",", with: "")
        }
    }

    /// Reads a GSM8K JSONL file (`question`, `answer` per line).
    public static func load(_ path: String, limit: Int = 0) throws -> [Problem] {
        try JSONLines.read(path, limit: limit) { object, line in
            guard let question = object["question"] as? String, let answer = object["answer"] as? String else {
                throw TrainingError.badData(
                    file: path, line: line, detail: "expected string keys \"question\" and \"answer\"")
            }
            return Problem(question: question, answer: answer)
        }
    }

    /// The training example of `problem`: BOS + prompt + target + EOS, labels −100 on the prompt,
    /// cut to `maxLength` tokens. The prompt and the whole text are tokenized separately and the
    /// first `prompt` tokens masked (the prompt ends with a newline, so the split is clean).
    public static func example(_ problem: Problem, tokenizer: any Tokenizer, maxLength: Int) throws -> Example {
        let promptIDs = try tokenizer.encode(problem.prompt, addBOS: true)
        let fullIDs = try tokenizer.encode(problem.prompt + problem.target, addBOS: true, addEOS: true)
        var labels = fullIDs
        for i in 0..<min(promptIDs.count, labels.count) { labels[i] = -100 }
        let kept = min(maxLength, fullIDs.count)
        return Example(tokens: Array(fullIDs.prefix(kept)), labels: Array(labels.prefix(kept)))
    }
}

/// JSON Lines reading with errors that name the line.
public enum JSONLines {
    /// Parses each non-empty line of `path` into an object and maps it.
    public static func read<T>(_ path: String, limit: Int = 0, _ transform: ([String: Any], Int) throws -> T) throws
        -> [T]
    {
        let text = try TextBlocks.read(path)
        var result: [T] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let object: [String: Any]
            switch JSONText.object(Data(line.utf8)) {
            case .success(let parsed): object = parsed
            case .failure(let problem):
                throw TrainingError.badData(
                    file: path, line: index + 1,
                    detail: problem.detail.replacingOccurrences(of: "at line 1, ", with: "at "))
            }
            result.append(try transform(object, index + 1))
            if limit > 0 && result.count >= limit { break }
        }
        return result
    }
}
