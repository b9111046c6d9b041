import ArgumentParser
import Autograd
import Foundation
import Llama
import Training

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
    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let preset, BenchmarkPreset(rawValue: preset) == nil { throw ValidationError("--preset must be bench-110m or llama2-7b") }
        guard ["4", "2", "none"].contains(bits) else { throw ValidationError("--bits must be 4, 2 or none") }
        guard steps >= 1, batch >= 1, seq >= 2, rank >= 1 else { throw ValidationError("--steps, --batch, --rank ≥ 1 and --seq ≥ 2") }
    }

    var options: ModelBenchmark.Options {
        let config = preset.flatMap(BenchmarkPreset.init(rawValue:))?.config
            ?? LlamaConfig(dim: dim, layers: layers, heads: heads, kvHeads: kvHeads ?? heads, hiddenDim: hidden, vocabularySize: vocab)
        var o = ModelBenchmark.Options(config: config, bits: Int(bits))
        (o.rank, o.batch, o.sequence, o.steps, o.activationCheckpointing) = (rank, batch, seq, steps, activationCheckpointing)
        return o
    }

    func report(_ r: ModelBenchmark.Report) throws {
        if json { return try printJSON(r) }
        print(r.runtime.summary)
        print(String(format: "%@ %@ base, rank %d, batch %d × %d%@: %.3f s/step median (%.3f – %.3f), %.0f tokens/s, %.1f GFLOP/s = %.0f%% of sgemm %.1f GFLOP/s; peak RSS %.2f GiB; build %.1f s",
                     r.mode as NSString, r.bits as NSString, r.rank, r.batch, r.sequence,
                     (r.activationCheckpointing ? ", checkpointing" : "") as NSString,
                     r.secondsPerStep.median, r.secondsPerStep.min, r.secondsPerStep.max, r.tokensPerSecond, r.gflops,
                     100 * r.fractionOfPeak, r.sgemmPeakGflops, Double(r.peakRSSBytes) / 1_073_741_824, r.buildSeconds))
    }
}

/// `loft bench train-step`.
struct BenchTrainStep: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train-step",
        abstract: "Training-step speed and memory of a random-initialised model with LoRA on all seven linears.")
    @OptionGroup var model: BenchModelOptions

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        try model.report(try ModelBenchmark.run(model.options, train: true))
    }
}

/// `loft bench forward`.
struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forward",
        abstract: "No-grad forward tokens/s (as in perplexity evaluation) of a random-initialised model.")
    @OptionGroup var model: BenchModelOptions

    func run() throws {
        MemoryPolicy.keepFreedMemory()
        try model.report(try ModelBenchmark.run(model.options, train: false))
    }
}
