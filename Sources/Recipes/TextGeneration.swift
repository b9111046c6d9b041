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
        var stops = Set([loaded.tokenizer.eosID].compactMap { $0 })
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
        var stream = StreamingDecoder(tokenizer: loaded.tokenizer, prompt: ids)
        if options.echo { onText(stream.promptText) }
        let start = Stopwatch.now()
        let tokens = try loaded.model.generate(
            prompt: ids, maxNewTokens: options.maxNewTokens,
            sampling: SamplingOptions(temperature: options.temperature, topP: options.topP), rng: &rng,
            stopTokens: stops, execution: options.execution
        ) { token in
            if let text = stream.append(token) { onText(text) }
            return true
        }
        return Result(tokens: tokens.count, seconds: Stopwatch.now() - start)
    }
}

/// The text of a growing token sequence, piece by piece (SentencePiece and byte-level pieces
/// decode correctly only in context, so the whole suffix is re-decoded and the new characters
/// returned).
struct StreamingDecoder {
    let tokenizer: any Tokenizer
    let promptText: String
    var tokens: [Int32]
    var emitted = ""

    init(tokenizer: any Tokenizer, prompt: [Int32]) {
        self.tokenizer = tokenizer
        tokens = prompt
        promptText = (try? tokenizer.decode(prompt)) ?? ""
    }

    /// Adds `token`; returns the new text, if any can be shown yet.
    mutating func append(_ token: Int32) -> String? {
        tokens.append(token)
        guard let text = try? tokenizer.decode(tokens), text.hasPrefix(promptText) else { return nil }
        let generated = String(text.dropFirst(promptText.count))
        guard generated.hasPrefix(emitted), generated.count > emitted.count else { return nil }
        defer { emitted = generated }
        return String(generated.dropFirst(emitted.count))
    }
}
