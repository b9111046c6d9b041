import ArgumentParser
import Foundation
import Recipes

/// `loft generate`: text generation with a KV cache.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt (greedy at temperature 0).")

    @OptionGroup var source: ModelArguments

    @Option(help: "The prompt; BOS is prepended when the tokenizer has one.")
    var prompt = ""

    @Option(help: "The most tokens to generate.")
    var maxNewTokens = 256

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling threshold in (0, 1].")
    var topP: Float = 1

    @Option(help: "Seed of the sampling stream.")
    var seed: UInt64 = 0

    @Flag(help: "Send the prompt as a user turn of the model's chat template; stop at its end of turn.")
    var chat = false

    @Option(help: "With --chat: a Jinja chat template file instead of the model's own.")
    var chatTemplate: String?

    @Option(help: "With --chat: a system turn before the prompt.")
    var system: String?

    @Flag(help: "With --chat: print the rendered prompt before the answer (plain prompts are always shown).")
    var echo = false

    func validate() throws {
        guard maxNewTokens >= 1 && maxNewTokens <= 1 << 20 else {
            throw ValidationError("--max-new-tokens must be in 1...1048576")
        }
        guard temperature >= 0 && temperature.isFinite else {
            throw ValidationError("--temperature must be finite and ≥ 0")
        }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        var options = TextGeneration.Options(
            maxNewTokens: maxNewTokens, temperature: temperature, topP: topP, seed: seed, chat: chat,
            execution: .command())
        (options.chatTemplate, options.system, options.echo) = (chatTemplate, system, !chat || echo)
        var endsWithNewline = true
        let result = try TextGeneration.run(try source.load(), prompt: prompt, options: options) { text in
            print(text, terminator: "")
            fflush(stdout)
            if !text.isEmpty { endsWithNewline = text.hasSuffix("\n") }
        }
        if !endsWithNewline { print("") }
        fflush(stdout)
        printError(
            String(
                format: "%d tokens in %.2f s: %.1f tokens/s", result.tokens, result.seconds,
                Double(result.tokens) / max(result.seconds, 1e-9)))
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
