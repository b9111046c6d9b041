import Autograd
import Foundation
import Llama
import LoRA
import Quantization
import Recipes
import Support
import Training

/// `loft bench train-step` and `loft bench forward`: a random-initialised model with LoRA on all
/// seven linears, timed over real steps (loss, backward, AdamW) or no-grad forwards.
public enum ModelBenchmark {
    /// What to build and run.
    public struct Options: Sendable {
        public var config: LlamaConfig
        /// 4 or 2 (NF4/NF2 base) or nil (fp32 base).
        public var bits: Int?
        public var rank = 16
        public var batch = 4, sequence = 256
        public var steps = 3
        public var activationCheckpointing = false
        public var seed: UInt64 = 0
        /// The arithmetic of the frozen products (bf16 runs only where the CPU has AVX512-BF16).
        public var computeType = ComputeType.fp32
        /// Options for `config` with a `bits`-bit base (nil: fp32).
        public init(config: LlamaConfig, bits: Int?) { (self.config, self.bits) = (config, bits) }
    }

    /// The measurements.
    public struct Report: Codable, Sendable {
        public let mode: String
        public let bits: String, rank: Int, batch: Int, sequence: Int, activationCheckpointing: Bool
        /// The compute type asked for and the one the frozen products ran in.
        public let computeType: ComputeType, effectiveComputeType: ComputeType
        public let parameters: Int, trainableParameters: Int
        public let secondsPerStep: Summary
        public let tokensPerSecond: Double
        /// Counted model FLOPs per step (forward, plus dx/LoRA backward when training; recomputation not counted).
        public let flopsPerStep: Double
        public let gflops: Double
        /// Product GFLOP/s (all threads, the effective compute type) on [B·T, D] · [D, F] measured in
        /// this run, and the ratio.
        public let sgemmPeakGflops: Double, fractionOfPeak: Double
        public let peakRSSBytes: Int
        /// Float buffers (activations, gradients, scratch) asked of the system per timed step, and
        /// taken again from the `StepArena` per timed step.
        public let bufferAllocationsPerStep: Double, bufferReusesPerStep: Double
        public let buildSeconds: Double
        public let runtime: RuntimeInfo
    }

    /// Builds the model through the trainer's own assembly (`ModelBuilder.assemble`): the frozen
    /// base from `source` (default: random weights of `options.config`), NF4/NF2 or fp32, with
    /// QLoRA-initialised LoRA (alpha = rank) on all seven linears. Tests use it as their fixture.
    public static func buildModel(_ options: Options, source: CheckpointSource? = nil) throws -> LlamaModel {
        let source = source ?? RandomCheckpoint(config: options.config, seed: options.seed)
        return try ModelBuilder.assemble(runConfig(options), source: source).model
    }

    /// The run config of a benchmark model: `options.bits` NF quantization (or none), gaussian
    /// (QLoRA) adapters of `options.rank`, the benchmark's seed.
    static func runConfig(_ options: Options) -> RunConfig {
        var config = RunConfig()
        config.quantization = options.bits.map { bits in
            var quantization = RunConfig.QuantizationSection()
            quantization.bits = Double(bits)
            return quantization
        }
        config.lora.rank = options.rank
        config.lora.alpha = Float(options.rank)
        config.lora.initialization = .gaussian
        config.training.seed = options.seed
        return config
    }

    /// Forward FLOPs of `tokens` tokens in sequences of `t`: linears, lm_head, attention (QKᵀ and PV, full square).
    static func forwardFlops(_ c: LlamaConfig, batch: Int, sequence t: Int, rank: Int) -> (frozen: Double, lora: Double)
    {
        let tokens = Double(batch * t)
        let linear = Double(c.layers) * Double(2 * c.dim * c.qDim + 2 * c.dim * c.kvDim + 3 * c.dim * c.hiddenDim)
        let attention = Double(c.layers) * 4 * Double(batch) * Double(t) * Double(t) * Double(c.dim)
        let lora =
            Double(c.layers) * Double(rank) * Double(4 * c.dim + 2 * c.kvDim + 2 * c.dim + 3 * (c.dim + c.hiddenDim))
            * 2 * tokens
        return (2 * tokens * (linear + Double(c.dim * c.vocabularySize)) + attention, lora)
    }

    /// Runs the training-step benchmark (`train: true`) or the no-grad forward benchmark.
    public static func run(_ options: Options, train: Bool) throws -> Report {
        try measure(options, train: train)
    }

    private static func measure(_ options: Options, train: Bool) throws -> Report {
        let execution = ExecutionOptions(compute: options.computeType)
        let effective = BLAS.effective(options.computeType)
        let buildStart = Stopwatch.now()
        let model = try buildModel(options)
        let buildSeconds = Stopwatch.now() - buildStart
        let c = options.config
        var rng = RandomState(seed: options.seed).split("tokens")
        let tokens = (0..<(options.batch * options.sequence)).map { _ in Int32(rng.next() % UInt64(c.vocabularySize)) }
        // The forward needs no gradient buffer: only a training run moves its parameters into an arena.
        let arena = train ? ParameterArena(model.trainableParameters.map(\.tensor)) : nil
        let optimizer = AdamW(count: arena?.count ?? 0, weightDecay: 0.01)
        var times: [Double] = []
        StepArena.begin()
        defer { StepArena.end() }
        var arenaAtStep1 = StepArena.statistics
        for step in 0...options.steps {  // step 0 warms up
            defer { StepArena.endStep() }
            if step == 1 { arenaAtStep1 = StepArena.statistics }
            let seconds = Stopwatch.time {
                if train {
                    let loss = model.loss(
                        tokens: tokens, labels: tokens, batch: options.batch, steps: options.sequence,
                        checkpointing: options.activationCheckpointing, execution: execution)
                    loss.backward()
                    if let arena {
                        optimizer.update(arena, lr: 1e-4)
                        arena.zeroGrads()
                    }
                } else {
                    _ = model.loss(
                        tokens: tokens, labels: tokens, batch: options.batch, steps: options.sequence, recording: false,
                        execution: execution)
                }
            }
            if step > 0 { times.append(seconds) }
        }
        let summary = Summary(times)
        let arenaNow = StepArena.statistics
        let timedSteps = Double(max(1, options.steps))
        let flops = forwardFlops(c, batch: options.batch, sequence: options.sequence, rank: options.rank)
        // Training: forward + dx of every frozen product (≈ forward again) + LoRA forward and both gradients.
        let counted = train ? 2 * flops.frozen + 3 * flops.lora : flops.frozen + flops.lora
        let peak = GemmBenchmark.run(
            shapes: [(options.batch * options.sequence, c.dim, c.hiddenDim)], threadCounts: [BLAS.threads],
            computeTypes: [effective], runs: 3)[0].gflopsMedian
        let gflops = counted / summary.median / 1e9
        return Report(
            mode: train ? "train-step" : "forward", bits: options.bits.map { "nf\($0)" } ?? "none", rank: options.rank,
            batch: options.batch, sequence: options.sequence, activationCheckpointing: options.activationCheckpointing,
            computeType: options.computeType, effectiveComputeType: effective,
            parameters: LlamaTensor.all(for: c).map { $0.shape(in: c).product }.reduce(0, +),
            trainableParameters: model.trainableParameters.map(\.tensor.count).reduce(0, +), secondsPerStep: summary,
            tokensPerSecond: Double(options.batch * options.sequence) / summary.median, flopsPerStep: counted,
            gflops: gflops, sgemmPeakGflops: peak, fractionOfPeak: gflops / peak,
            peakRSSBytes: ProcessMemory.peakResidentBytes,
            bufferAllocationsPerStep: Double(arenaNow.systemAllocations - arenaAtStep1.systemAllocations) / timedSteps,
            bufferReusesPerStep: Double(arenaNow.reuses - arenaAtStep1.reuses) / timedSteps,
            buildSeconds: buildSeconds, runtime: .current(compute: options.computeType))
    }
}
