import Autograd
import ChatTemplates
import Foundation
import Llama
import Support
import Tokenizers
import Training

/// `loft generate`: a prompt through the tokenizer, KV-cache generation, text streamed back.
public enum TextGeneration {
    /// How to generate.
    public struct Options: Sendable {
        public var maxNewTokens: Int, temperature: Float, topP: Float, seed: UInt64
        /// Wrap the prompt as one user turn of the model's chat template (stopping at its end of
        /// turn); `chatTemplate` a template file instead of the model's own; `system` a system turn.
        public var chat: Bool
        public var chatTemplate: String? = nil
        public var system: String? = nil
        /// Show the prompt (the rendered chat prompt with `chat`) before the generated text.
        public var echo = true
        /// How the model computes.
        public var execution: ExecutionOptions
        /// Options (greedy at temperature 0).
        public init(
            maxNewTokens: Int, temperature: Float, topP: Float, seed: UInt64, chat: Bool = false,
            execution: ExecutionOptions = .fp32
        ) {
            self.maxNewTokens = maxNewTokens
            self.temperature = temperature
            self.topP = topP
            self.seed = seed
            (self.chat, self.execution) = (chat, execution)
        }
    }

    /// What was generated.
    public struct Result: Sendable {
        public let tokens: Int, seconds: Double
    }

    /// Generates after `prompt` (BOS prepended when the tokenizer has one; with `chat`, the rendered
    /// conversation); `onText` receives the prompt's text first when `echo`, then each new piece
    /// of text as it is decoded. Generation stops at EOS (and the template's end of turn).
    /// - Throws: `LlamaError.emptyPrompt` when the prompt has no token (no BOS and no text).
    public static func run(
        _ loaded: ModelLoader.Loaded, prompt: String, options: Options,
        onText: (String) -> Void
    ) throws -> Result {
        var rng = RandomState(seed: options.seed).split("sampling")
        var ids: [Int32]
        var stops = loaded.tokenizer.endOfSequenceStops
        if options.chat {
            let encoder = ChatEncoder(
                template: try loaded.chatTemplate(file: options.chatTemplate), tokenizer: loaded.tokenizer)
            let messages =
                (options.system.map { [ChatMessage(role: "system", content: $0)] } ?? [])
                + [ChatMessage(role: "user", content: prompt)]
            do {
                ids = try encoder.prompt(messages)
            } catch let refusal as ChatEncoder.Refusal {
                throw RecipeError.invalidOption(name: "--chat", detail: refusal.description)
            }
            stops = encoder.stopTokens
        } else {
            ids = try loaded.tokenizer.encode(prompt, addBOS: true)
        }
        var stream = StreamingText(tokenizer: loaded.tokenizer, prompt: ids)
        if options.echo { onText((try? loaded.tokenizer.decode(ids)) ?? "") }
        let start = Stopwatch.now()
        let tokens = try loaded.model.generate(
            prompt: ids, maxNewTokens: options.maxNewTokens,
            sampling: SamplingOptions(temperature: options.temperature, topP: options.topP), rng: &rng,
            stopTokens: stops, execution: options.execution
        ) { token in
            let text = stream.append(token)
            if !text.isEmpty { onText(text) }
            return true
        }
        let rest = stream.remainder()
        if !rest.isEmpty { onText(rest) }
        return Result(tokens: tokens.count, seconds: Stopwatch.now() - start)
    }
}

/// The text of a growing answer, piece by piece: SentencePiece and byte-level pieces decode
/// correctly only in context, so the answer's tokens are decoded whole and the new characters
/// returned (a piece that ends inside a UTF-8 character waits for the rest).
public struct StreamingText {
    let tokenizer: any Tokenizer
    /// The last few prompt tokens, decoded with the answer so that its first piece decodes as it
    /// would in context (a leading space of SentencePiece is kept).
    let context: [Int32]
    let contextText: String
    var tokens: [Int32] = []
    var emitted = ""

    /// A decoder of the answer that follows `prompt`.
    public init(tokenizer: any Tokenizer, prompt: [Int32]) {
        self.tokenizer = tokenizer
        context = Array(prompt.suffix(4))
        contextText = (try? tokenizer.decode(context)) ?? ""
    }

    /// Adds `token`; returns the new text ("" when none can be shown yet).
    public mutating func append(_ token: Int32) -> String {
        tokens.append(token)
        return release(holdingIncompleteCharacter: true)
    }

    /// The text not yet returned, whatever it ends with (the answer is over).
    public mutating func remainder() -> String { release(holdingIncompleteCharacter: false) }

    /// The answer's text past what was returned, marked returned; "" while the answer does not
    /// extend it (or, when `holdingIncompleteCharacter`, ends inside a UTF-8 character).
    private mutating func release(holdingIncompleteCharacter: Bool) -> String {
        guard let text = try? tokenizer.decode(context + tokens), text.hasPrefix(contextText) else { return "" }
        let answer = text.dropFirst(contextText.count)
        guard !(holdingIncompleteCharacter && answer.hasSuffix("\u{FFFD}")), answer.hasPrefix(emitted),
            answer.count > emitted.count
        else { return "" }
        defer { emitted = String(answer) }
        return String(answer.dropFirst(emitted.count))
    }
}
