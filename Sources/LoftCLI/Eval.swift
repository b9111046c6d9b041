import Recipes
import ArgumentParser
import Foundation

/// `loft eval`: perplexity on a text, or GSM8K accuracy.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Evaluate perplexity (--perplexity) or GSM8K accuracy (--gsm8k).")

    @Flag(help: "Perplexity on a text.")
    var perplexity = false
    @Flag(help: "GSM8K accuracy by generation.")
    var gsm8k = false
    @OptionGroup var source: ModelArguments
    @Option(
        help:
            "Perplexity: wikitext2:validation (default), wikitext2:test, or a text file. GSM8K: a JSONL file (default data/gsm8k/SPLIT.jsonl)."
    )
    var data: String?
    @Option(help: "Block length for perplexity.")
    var seqLen = 1024
    @Option(name: .customLong("protocol"), help: "hf (LoftQ's, default) or llama.cpp.")
    var protocolKind: Perplexity.ProtocolKind = .hf
    @Option(help: "GSM8K split: test or train.")
    var split = "test"
    @Option(help: "Evaluate only the first N GSM8K questions.")
    var limit: Int?
    @Option(help: "Most tokens generated per GSM8K answer.")
    var maxNewTokens = 256
    @Option(help: "Blocks (perplexity) or questions (GSM8K) per batch.")
    var batch = 4
    @Option(help: "Sampling temperature for GSM8K (0: greedy).")
    var temperature: Float = 0
    @Option(help: "Seed for sampling.")
    var seed: UInt64 = 0
    @Option(help: "fp32, or bf16 (frozen products with bf16 inputs and fp32 sums; fp32 on CPUs without AVX512-BF16).")
    var computeDtype: ComputeType = .fp32
    @Option(help: "Write one JSON line per GSM8K question here.")
    var out: String?
    @Flag(help: "GSM8K: ask each question as a user turn of the chat template, stopping at its end of turn.")
    var chat = false
    @Option(help: "With --chat: a Jinja chat template file instead of the model's own.")
    var chatTemplate: String?
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard perplexity != gsm8k else { throw ValidationError("choose exactly one of --perplexity and --gsm8k") }
        guard (4...1 << 20).contains(seqLen) else { throw ValidationError("--seq-len must be in 4...1048576") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096") }
        guard (1...1 << 20).contains(maxNewTokens) else {
            throw ValidationError("--max-new-tokens must be in 1...1048576")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard gsm8k || (!chat && chatTemplate == nil) else { throw ValidationError("--chat goes with --gsm8k") }
        guard temperature >= 0 && temperature.isFinite else {
            throw ValidationError("--temperature must be finite and ≥ 0")
        }
        guard ["test", "train"].contains(split) else { throw ValidationError("--split must be test or train") }
    }

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        let loaded = try source.load()
        if !json { printError("model: \(loaded.description)") }
        if perplexity { try runPerplexity(loaded) } else { try runGSM8K(loaded) }
    }

    func runPerplexity(_ loaded: ModelLoader.Loaded) throws {
        if let window = loaded.model.config.slidingWindow, seqLen > window {
            throw ValidationError(
                "--seq-len \(seqLen) is longer than the model's sliding window of \(window) positions")
        }
        let path: String
        switch data ?? "wikitext2:validation" {
        case "wikitext2:validation": path = "data/wikitext-2-raw/wiki.valid.raw"
        case "wikitext2:test": path = "data/wikitext-2-raw/wiki.test.raw"
        case let file: path = file
        }
        let blocks = try Perplexity.blocks(file: path, kind: protocolKind, tokenizer: loaded.tokenizer, length: seqLen)
        let progress = ProgressLine()
        let result = Perplexity.evaluate(
            model: loaded.model, blocks: blocks, batch: batch,
            execution: .command(compute: computeDtype)
        ) { done, total in
            if !json { progress.note("perplexity: block \(done)/\(total)", final: done == total) }
        }
        if json {
            return try printJSON(
                PerplexityReport(
                    data: path, protocolKind: protocolKind.rawValue, seqLen: seqLen,
                    computeDtype: computeDtype,
                    effectiveComputeDtype: RuntimeInfo.current(compute: computeDtype).computeType,
                    result: result))
        }
        print(
            String(
                format: "perplexity %.4f | mean NLL %.5f ± %.5f (s.e.) | %d targets in %d blocks of %d | %.0f tokens/s",
                result.perplexity, result.meanNLL, result.standardError, result.targets, result.blocks, seqLen,
                result.tokensPerSecond))
    }

    func runGSM8K(_ loaded: ModelLoader.Loaded) throws {
        let problems = try GSM8K.load(data ?? "data/gsm8k/\(split).jsonl", limit: limit ?? 0)
        let writer = try out.map { try PredictionWriter(path: $0) }
        let progress = ProgressLine()
        var done = 0, correct = 0
        let encoder =
            chat || chatTemplate != nil
            ? ChatEncoder(template: try loaded.chatTemplate(file: chatTemplate), tokenizer: loaded.tokenizer) : nil
        let result = try GSM8KEvaluation.run(
            model: loaded.model, tokenizer: loaded.tokenizer, problems: problems, batch: batch,
            maxNewTokens: maxNewTokens,
            sampling: Sampling(temperature: temperature), seed: seed, execution: .command(compute: computeDtype),
            chat: encoder
        ) { prediction in
            try writer?.append(prediction)
            done += 1
            correct += prediction.correct ? 1 : 0
            if !json {
                let accuracy = String(format: "%.3f", Double(correct) / Double(done))
                progress.note(
                    "gsm8k: \(done)/\(problems.count), accuracy so far \(accuracy)",
                    final: done == problems.count)
            }
        }
        try writer?.finish()
        if json { return try printJSON(result) }
        print(
            String(
                format:
                    "GSM8K %@ (%d questions): accuracy %.4f | strict %.4f | flexible %.4f | %.1f generated tokens/s",
                split as NSString, result.questions, result.accuracy, result.strictAccuracy, result.flexibleAccuracy,
                result.tokensPerSecond))
    }
}

extension Perplexity.ProtocolKind: ExpressibleByArgument {}
extension ComputeType: ExpressibleByArgument {}

/// What `loft eval --perplexity --json` prints.
struct PerplexityReport: Encodable {
    let data: String
    let protocolKind: String
    let seqLen: Int
    /// The compute type asked for, and the one the products got on this CPU (bf16 needs its kernel).
    let computeDtype: ComputeType, effectiveComputeDtype: ComputeType
    let result: Perplexity.Result
}

/// Writes GSM8K predictions as JSON lines into a temporary file renamed into place at the end.
final class PredictionWriter {
    let url: URL
    var buffer = Data()
    let encoder = JSONEncoder()

    init(path: String) throws {
        url = URL(fileURLWithPath: path)
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    func append(_ prediction: GSM8KEvaluation.Prediction) throws {
        buffer.append(try encoder.encode(prediction))
        buffer.append(0x0A)
    }

    func finish() throws { try AtomicFile.write(buffer, to: url) }
}
