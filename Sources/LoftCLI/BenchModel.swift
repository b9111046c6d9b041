import Recipes
import ArgumentParser
import Benchmarks
import Foundation

/// The model shape of a model benchmark: a preset or explicit sizes.
struct BenchModelOptions: ParsableArguments {
    @Option(help: "bench-110m or llama2-7b.")
    var preset: String?
    @Option var dim = 768
    @Option var layers = 12
    @Option var heads = 12
    @Option var kvHeads: Int?
    @Option var hidden = 2048
    @Option var vocab = 32000
    @Option(help: "4 or 2 (NF4/NF2 base) or none (fp32 base).")
    var bits = "4"
    @Option var rank = 16
    @Option var batch = 4
    @Option var seq = 256
    @Option(help: "Timed steps (after one warm-up).")
    var steps = 3
    @Flag(help: "Recompute each block in backward.")
    var activationCheckpointing = false
    @Flag(help: "Tie the output projection to the embedding (as the PyTorch baseline's bench-110M and SmolLM2 do).")
    var tiedEmbeddings = false
    @Option(
        help:
            "fp32, or bf16 (frozen products with bf16 inputs and fp32 sums; runs as fp32 on CPUs without AVX512-BF16).")
    var computeDtype = "fp32"
    @Flag(help: "Print JSON.")
    var json = false

    /// The checked benchmark options (errors name the flag).
    func options() throws -> ModelBenchmark.Options {
        try ModelBenchmark.Options(
            preset: preset, dim: dim, layers: layers, heads: heads, kvHeads: kvHeads, hidden: hidden, vocab: vocab,
            bits: bits, rank: rank, batch: batch, sequence: seq, steps: steps,
            activationCheckpointing: activationCheckpointing, tiedEmbeddings: tiedEmbeddings,
            computeType: computeDtype)
    }

    func report(_ r: ModelBenchmark.Report) throws {
        if json { return try printJSON(r) }
        print(r.runtime.summary)
        print(
            String(
                format:
                    "%@ %@ base, %@ products, rank %d, batch %d × %d%@: %.3f s/step median (%.3f – %.3f), %.0f tokens/s, %.1f GFLOP/s = %.0f%% of the product peak %.1f GFLOP/s; peak RSS %.2f GiB; build %.1f s",
                r.mode as NSString, r.bits as NSString, r.effectiveComputeType.rawValue as NSString, r.rank, r.batch,
                r.sequence,
                (r.activationCheckpointing ? ", checkpointing" : "") as NSString,
                r.secondsPerStep.median, r.secondsPerStep.min, r.secondsPerStep.max, r.tokensPerSecond, r.gflops,
                100 * r.fractionOfPeak, r.sgemmPeakGflops, Double(r.peakRSSBytes) / 1_073_741_824, r.buildSeconds))
    }
}

/// `loft bench train-step`.
struct BenchTrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-step",
        abstract: "Training-step speed and memory of a random-initialised model with LoRA on all seven linears.")
    @OptionGroup var model: BenchModelOptions

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        try model.report(try ModelBenchmark.run(try model.options(), train: true))
    }
}

/// `loft bench forward`.
struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "No-grad forward tokens/s (as in perplexity evaluation) of a random-initialised model.")
    @OptionGroup var model: BenchModelOptions

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        try model.report(try ModelBenchmark.run(try model.options(), train: false))
    }
}

/// `loft bench decode`.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract:
            "KV-cache decoding tokens/s at batch 1 and 16 against the memory bound (DRAM GB/s ÷ weight bytes per step)."
    )
    @OptionGroup var model: BenchModelOptions
    @Option(
        help:
            "A model file or folder (GGUF, Hugging Face, llama2.c) to quantize and decode instead of a preset with random weights."
    )
    var modelPath: String?
    @Option(help: "Batch sizes, comma-separated.")
    var batches = "1,16"
    @Option(help: "Prompt tokens prefilled per sequence.")
    var prompt = 16
    @Option(help: "Tokens decoded per sequence per run.")
    var tokens = 32
    @Option(help: "Timed runs per batch size (after one warm-up).")
    var runs = 3

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        let sizes = try batches.split(separator: ",").map { part -> Int in
            guard let size = Int(part) else { throw ValidationError("--batches: '\(part)' is not a number") }
            return size
        }
        let r = try DecodeBenchmark.run(
            try model.options(), modelPath: modelPath, batches: sizes, prompt: prompt, decoded: tokens, runs: runs,
            execution: .command())
        if model.json { return try printJSON(r) }
        print(r.runtime.summary)
        print(
            String(
                format:
                    "%@, %@ base, rank %d: %.1f MB of weights per step; DRAM %.1f GB/s; peak RSS %.2f GiB; build %.1f s",
                r.model as NSString, r.bits as NSString, r.rank, Double(r.weightBytesPerStep) / 1e6,
                r.dramGBPerSecond.median,
                Double(r.peakRSSBytes) / 1_073_741_824, r.buildSeconds))
        for row in r.rows {
            print(
                String(
                    format: "batch %3d: %8.1f tokens/s median (%.1f – %.1f); memory bound %.1f; %.0f%% of it",
                    row.batch,
                    row.tokensPerSecond.median, row.tokensPerSecond.min, row.tokensPerSecond.max,
                    row.memoryBoundTokensPerSecond,
                    100 * row.fractionOfBound))
        }
    }
}
