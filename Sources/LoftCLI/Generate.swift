import ArgumentParser
import Autograd
import Foundation
import Llama
import Tokenizer
import Training

/// `loft generate`: text generation with a KV cache.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt (greedy at temperature 0).")

    @OptionGroup var source: ModelArguments

    @Option(help: "The prompt; BOS is prepended.")
    var prompt = ""

    @Option(help: "The most tokens to generate.")
    var maxNewTokens = 256

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling threshold in (0, 1].")
    var topP: Float = 1

    @Option(help: "Seed of the sampling stream.")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxNewTokens >= 1 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() throws {
        let loaded = try source.load()
        var rng = RandomState(seed: seed).split("sampling")
        let prompt = try loaded.tokenizer.encode(prompt, addBOS: true)
        var streamed = StreamingDecoder(tokenizer: loaded.tokenizer, prompt: prompt)
        let start = Stopwatch.now()
        let tokens = loaded.model.generate(
            prompt: prompt, maxNewTokens: maxNewTokens,
            sampling: SamplingOptions(temperature: temperature, topP: topP), rng: &rng,
            stopTokens: Set([loaded.tokenizer.eosID].compactMap { $0 })
        ) { token in
            streamed.append(token)
            return true
        }
        let seconds = Stopwatch.now() - start
        print("")
        printError(String(format: "%d tokens in %.2f s: %.1f tokens/s", tokens.count, seconds,
                          Double(tokens.count) / max(seconds, 1e-9)))
    }
}

/// Prints the text of a growing token sequence as it grows (SentencePiece pieces only decode
/// correctly in context, so the whole suffix is re-decoded and the new characters printed).
struct StreamingDecoder {
    let tokenizer: SentencePieceTokenizer
    let promptText: String
    var tokens: [Int32]
    var printed = ""

    init(tokenizer: SentencePieceTokenizer, prompt: [Int32]) {
        self.tokenizer = tokenizer
        tokens = prompt
        promptText = (try? tokenizer.decode(prompt)) ?? ""
        print(promptText, terminator: "")
    }

    mutating func append(_ token: Int32) {
        tokens.append(token)
        guard let text = try? tokenizer.decode(tokens), text.hasPrefix(promptText) else { return }
        let generated = String(text.dropFirst(promptText.count))
        if generated.hasPrefix(printed) {
            print(generated.dropFirst(printed.count), terminator: "")
            fflush(stdout)
            printed = generated
        }
    }
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
