import ChatTemplates
import Foundation
import Tokenizers

/// Conversations to token ids through a model's chat template, with the tokens that carry loss.
///
/// An assistant turn's trained tokens are found by rendering: the conversation up to the turn
/// with the generation prompt (the prompt the model sees at inference), and up to the turn's end;
/// the tokens between the two — the answer and its end-of-turn token, not the whitespace after it
/// — are the turn's. Both renders must tokenize to prefixes of the whole conversation's tokens
/// (true of templates that render history as it was said; a template that rewrites earlier turns,
/// as DeepSeek-R1's drops their reasoning, is refused for such a conversation unless
/// `train_on: last`).
/// reference: transformers apply_chat_template (add_special_tokens=False on rendered text);
/// trl DataCollatorForCompletionOnlyLM; mlx-lm --mask-prompt
public struct ChatEncoder: Sendable {
    public let template: ChatTemplate
    public let tokenizer: any Tokenizer
    /// The texts of the tokenizer's BOS and EOS tokens: a rendered `<s>` or `</s>` is that token,
    /// as Hugging Face tokenizers read special tokens in text.
    let specials: [(text: String, id: Int32)]
    /// The tokens that end an assistant turn: EOS, and the template's end-of-turn token (found by
    /// rendering a short exchange once: the single token after the answer, e.g. `<|im_end|>`).
    public private(set) var stopTokens: Set<Int32> = []

    /// Why a conversation cannot be an example.
    public enum Refusal: Error, CustomStringConvertible, Equatable {
        case templateRaised(String)
        case noAssistantTurn
        case notIncremental(turn: Int)

        public var description: String {
            switch self {
            case .templateRaised(let message): return "the chat template raised: \(message)"
            case .noAssistantTurn: return "no assistant turn to train on"
            case .notIncremental(let turn):
                return "the chat template's prompt for turn \(turn) is not a prefix of the rendered conversation "
                    + "(it rewrites earlier turns, or its generation prompt differs from how it renders an answer)"
            }
        }
    }

    /// An encoder of `template` for `tokenizer`.
    public init(template: ChatTemplate, tokenizer: any Tokenizer) {
        self.template = template
        self.tokenizer = tokenizer
        var specials: [(String, Int32)] = []
        for case let id? in [tokenizer.bosID, tokenizer.eosID] {
            if let text = tokenizer.piece(id), !text.isEmpty, !specials.contains(where: { $0.0 == text }) {
                specials.append((text, id))
            }
        }
        self.specials = specials.sorted { $0.0.count > $1.0.count }
        stopTokens = probeStopTokens()
    }

    /// The ids of rendered text (no BOS is added: the template writes the one it wants).
    public func encode(_ text: String) throws -> [Int32] {
        var ids: [Int32] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            let next = specials.compactMap { special in
                rest.range(of: special.text, options: .literal).map { ($0, special.id) }
            }.min { $0.0.lowerBound < $1.0.lowerBound }
            guard let (range, id) = next else { break }
            if range.lowerBound > rest.startIndex {
                ids += try tokenizer.encode(String(rest[..<range.lowerBound]), addBOS: false, addEOS: false)
            }
            ids.append(id)
            rest = rest[range.upperBound...]
        }
        if !rest.isEmpty { ids += try tokenizer.encode(String(rest), addBOS: false, addEOS: false) }
        return ids
    }

    /// The tokens of `messages` and, per token, whether it carries loss.
    public func encode(_ messages: [ChatMessage], trainOn: RunConfig.TrainOn) throws -> (
        tokens: [Int32], trained: [Bool]
    ) {
        let full = try encode(try render(messages, generationPrompt: false))
        if trainOn == .all { return (full, [Bool](repeating: true, count: full.count)) }
        let assistantTurns = messages.indices.filter { messages[$0].role == "assistant" }
        guard let lastTurn = assistantTurns.last else { throw Refusal.noAssistantTurn }
        var trained = [Bool](repeating: false, count: full.count)
        for turn in trainOn == .last ? [lastTurn] : assistantTurns {
            let prompt = try encode(try render(Array(messages[..<turn]), generationPrompt: true))
            var answered = try render(Array(messages[...turn]), generationPrompt: false)
            let trimmed = String(answered.reversed().drop { $0.isWhitespace }.reversed())
            if trimmed.count < answered.count { answered = trimmed }
            let end = try encode(answered)
            guard full.starts(with: prompt), full.starts(with: end), end.count >= prompt.count else {
                throw Refusal.notIncremental(turn: turn)
            }
            for index in prompt.count..<end.count { trained[index] = true }
        }
        return (full, trained)
    }

    /// The prompt of `messages` for generation: the conversation and the assistant's header.
    public func prompt(_ messages: [ChatMessage]) throws -> [Int32] {
        try encode(try render(messages, generationPrompt: true))
    }

    /// EOS and the single token a rendered answer ends with (see `stopTokens`).
    private func probeStopTokens() -> Set<Int32> {
        var stops = tokenizer.endOfSequenceStops
        let answer = "Loft stop probe"
        let exchange = [ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: answer)]
        if let text = try? render(exchange, generationPrompt: false),
            let range = text.range(of: answer, options: [.literal, .backwards])
        {
            let tail = text[range.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
            if let ids = try? encode(tail), ids.count == 1 { stops.insert(ids[0]) }
        }
        return stops
    }

    private func render(_ messages: [ChatMessage], generationPrompt: Bool) throws -> String {
        do {
            return try template.render(messages, addGenerationPrompt: generationPrompt)
        } catch let error as JinjaError {
            throw Refusal.templateRaised(error.description)
        }
    }
}
