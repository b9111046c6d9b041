import Autograd
import ChatTemplates
import Foundation
import Support
import Llama
import Tokenizers

/// GSM8K accuracy: prompts as in training, batched greedy (or sampled) generation with KV caches,
/// answers extracted two ways.
public enum GSM8KEvaluation {
    /// The numbers in a text: `1,234.5`-style thousands groups or plain digits, with an optional
    /// minus sign; commas removed.
    public static func numbers(in text: String) -> [String] {
        let pattern = #"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?"#
        let regex = try! NSRegularExpression(pattern: pattern)
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).map {
            String(text[Range($0.range, in: text)!]).replacingOccurrences(of: ",", with: "")
        }
    }

    /// Strict: the first number after the first `The final answer is:` (or `####`), else nil.
    public static func strictAnswer(_ output: String) -> String? {
        for marker in ["The final answer is:", "####"] {
            if let range = output.range(of: marker) {
                return numbers(in: String(output[range.upperBound...])).first
            }
        }
        return nil
    }

    /// Flexible: the last number in the output, else nil.
    public static func flexibleAnswer(_ output: String) -> String? { numbers(in: output).last }

    /// DESIGN's rule: the strict answer when there is one, else the last number.
    public static func answer(_ output: String) -> String? { strictAnswer(output) ?? flexibleAnswer(output) }

    /// Whether `predicted` equals `gold` as numbers.
    public static func matches(_ predicted: String?, gold: String) -> Bool {
        guard let predicted, let p = Double(predicted), let g = Double(gold.replacingOccurrences(of: ",", with: ""))
        else { return false }
        return abs(p - g) < 1e-6 * max(1, abs(g))
    }

    /// One question's record (a line of the predictions file).
    public struct Prediction: Codable, Sendable {
        public let index: Int
        public let prompt: String, output: String
        public let strict: String?, flexible: String?, extracted: String?, gold: String
        public let correct: Bool, strictCorrect: Bool, flexibleCorrect: Bool

        enum CodingKeys: String, CodingKey {
            case index, prompt, output, strict, flexible, extracted, gold, correct, strictCorrect, flexibleCorrect
        }

        /// Every key is written, with `null` for an answer that was not found.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(prompt, forKey: .prompt)
            try c.encode(output, forKey: .output)
            try c.encode(strict, forKey: .strict)
            try c.encode(flexible, forKey: .flexible)
            try c.encode(extracted, forKey: .extracted)
            try c.encode(gold, forKey: .gold)
            try c.encode(correct, forKey: .correct)
            try c.encode(strictCorrect, forKey: .strictCorrect)
            try c.encode(flexibleCorrect, forKey: .flexibleCorrect)
        }
    }

    /// The scores.
    public struct Result: Codable, Sendable {
        public let questions: Int
        public let accuracy: Double, strictAccuracy: Double, flexibleAccuracy: Double
        public let generatedTokens: Int, seconds: Double, tokensPerSecond: Double
    }

    /// Answers `problems` in batches of `batch`, the model computing as `execution` says; with
    /// `chat`, each question is the user's turn of the chat template (generation stops at its end
    /// of turn), else the training prompt after BOS. `onPrediction` sees each record.
    public static func run(
        model: LlamaModel, tokenizer: any Tokenizer, problems: [GSM8K.Problem], batch: Int,
        maxNewTokens: Int, sampling: SamplingOptions, seed: UInt64, execution: ExecutionOptions = .fp32,
        chat: ChatEncoder? = nil, onPrediction: (Prediction) throws -> Void
    ) throws -> Result {
        var rng = RandomState(seed: seed).split("gsm8k-sampling")
        let started = Stopwatch.now()
        var correct = 0, strictCorrect = 0, flexibleCorrect = 0, generated = 0
        let stops = chat?.stopTokens ?? tokenizer.endOfSequenceStops
        for start in stride(from: 0, to: problems.count, by: max(1, batch)) {
            let group = Array(problems[start..<min(problems.count, start + max(1, batch))])
            let prompts = try group.map { problem in
                try chat.map { try $0.prompt(problem.chat(answered: false)) }
                    ?? tokenizer.encode(problem.prompt, addBOS: true)
            }
            let outputs = try model.generateBatch(
                prompts: prompts, maxNewTokens: maxNewTokens, sampling: sampling, rng: &rng, stopTokens: stops,
                execution: execution)
            for (offset, (problem, tokens)) in zip(group, outputs).enumerated() {
                generated += tokens.count
                let text = try tokenizer.decode(tokens)
                let (strict, flexible, extracted) = (strictAnswer(text), flexibleAnswer(text), answer(text))
                let record = Prediction(
                    index: start + offset,
                    prompt: try chat?.template.render(problem.chat(answered: false), addGenerationPrompt: true)
                        ?? problem.prompt,
                    output: text, strict: strict,
                    flexible: flexible, extracted: extracted, gold: problem.goldAnswer,
                    correct: matches(extracted, gold: problem.goldAnswer),
                    strictCorrect: matches(strict, gold: problem.goldAnswer),
                    flexibleCorrect: matches(flexible, gold: problem.goldAnswer))
                correct += record.correct ? 1 : 0
                strictCorrect += record.strictCorrect ? 1 : 0
                flexibleCorrect += record.flexibleCorrect ? 1 : 0
                try onPrediction(record)
            }
        }
        let seconds = Stopwatch.now() - started
        let n = Double(max(1, problems.count))
        return Result(
            questions: problems.count, accuracy: Double(correct) / n, strictAccuracy: Double(strictCorrect) / n,
            flexibleAccuracy: Double(flexibleCorrect) / n, generatedTokens: generated, seconds: seconds,
            tokensPerSecond: Double(generated) / max(seconds, 1e-9))
    }
}
