import Autograd
import ChatTemplates
import Distributed
import Formats
import Foundation
import Llama
import LoRA
import Support
import Tokenizers
import Training

/// Runs LoRA fine-tuning as a `RunConfig` says: builds the model and data, takes optimizer steps
/// (AdamW, schedule, clipping, accumulation), evaluates, checkpoints, resumes bit-exactly, and
/// writes the final adapter in PEFT format to `runs/NAME/final/`. It reports through events.
public final class Trainer {
    public let config: RunConfig
    public let configFile: String
    /// `runs/NAME`.
    public let runDirectory: URL
    public let model: LlamaModel
    public let tokenizer: any Tokenizer
    public let trainExamples: [Example], evalExamples: [Example]
    /// What the data files gave (printed at the start and written to `run.json`).
    public let dataCounts: DataCountsByFile
    /// The chat template's encoder of a `dataset: chat` run.
    public let chat: ChatEncoder?
    /// The prompt ids of `eval.samples`.
    let samplePrompts: [[Int32]]
    public let totalSteps: Int
    public let schedule: LRSchedule
    let built: ModelBuilder.Built
    /// The trainable parameters (LoRA A and B of every adapted linear), in one arena.
    let arena: ParameterArena
    let optimizer: AdamW
    let padID: Int32
    /// The job's processes: each takes its slice of every micro-batch; rank 0 alone writes.
    public let group: ProcessGroup

    /// Prepares a run (config validated, model built, data tokenized) under `runsRoot/NAME`.
    /// With a `group` of N ranks, `training.batch_size` is the global micro-batch, split N ways.
    public init(
        config: RunConfig, configFile: String, runsRoot: URL = URL(fileURLWithPath: "runs"),
        group: ProcessGroup = .single
    ) throws {
        try ConfigLoader.validate(config, file: configFile)
        try ConfigLoader.checkPaths(config, file: configFile)
        guard config.training.batchSize % group.size == 0 else {
            throw TrainingError.invalidValue(
                file: configFile, key: "training.batch_size",
                detail: "\(config.training.batchSize) cannot be split evenly over \(group.size) ranks")
        }
        self.group = group
        self.config = config
        self.configFile = configFile
        runDirectory = runsRoot.appendingPathComponent(config.name)
        built = try ModelBuilder.build(config, file: configFile, group: group)
        (model, tokenizer) = (built.model, built.tokenizer)
        let tokenizer = built.tokenizer
        let chat =
            config.data.dataset == .chat
            ? ChatEncoder(
                template: try ModelFiles.chatTemplate(
                    forModel: config.model.path, file: config.data.chatTemplate, tokenizer: tokenizer),
                tokenizer: tokenizer) : nil
        let train = try DatasetLoader.load(
            config.data.trainPath, data: config.data, tokenizer: tokenizer, chat: chat, limit: config.data.limitTrain)
        let eval = try config.data.evalPath.map {
            try DatasetLoader.load($0, data: config.data, tokenizer: tokenizer, chat: chat)
        }
        let packed = config.data.packing ? Packing.pack(train.examples, length: config.data.maxSeqLen) : train.examples
        (trainExamples, evalExamples, self.chat) = (packed, eval?.examples ?? [], chat)
        samplePrompts = try Self.samplePrompts(config, file: configFile, tokenizer: tokenizer, chat: chat)
        dataCounts = DataCountsByFile(train: train.counts, eval: eval?.counts)
        let t = config.training
        let batchesPerEpoch = (trainExamples.count + t.batchSize - 1) / t.batchSize
        let stepsPerEpoch = (batchesPerEpoch + t.gradAccumulation - 1) / t.gradAccumulation
        totalSteps = t.maxSteps > 0 ? t.maxSteps : t.epochs * stepsPerEpoch
        let warmup = t.warmupSteps > 0 ? t.warmupSteps : Int((t.warmupRatio * Double(totalSteps)).rounded(.up))
        schedule = LRSchedule(
            kind: t.schedule, peak: Double(t.learningRate),
            warmupSteps: warmup, totalSteps: totalSteps)
        arena = ParameterArena(model.trainableParameters.map(\.tensor))
        optimizer = AdamW(
            count: arena.count, beta1: t.betas[0], beta2: t.betas[1], eps: t.eps, weightDecay: t.weightDecay)
        padID = tokenizer.eosID ?? 0
    }

    /// The checkpoint folder.
    public var checkpointDirectory: URL {
        config.checkpoint.dir.map { URL(fileURLWithPath: $0) } ?? runDirectory.appendingPathComponent("checkpoints")
    }

    /// The adapter config written with every checkpoint and the final adapter.
    var adapterConfig: AdapterConfig {
        let lora = config.lora
        return AdapterConfig(
            initialization: lora.initialization, rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout,
            targetModules: lora.targetModules, bits: config.quantization?.bits, iterations: lora.loftqIters,
            base: config.model.path)
    }

    /// Trains until `totalSteps`, or until `onEvent` returns `.stop` / `shouldStop()` is true (then
    /// a checkpoint is saved). `resume` is `latest` or a checkpoint folder.
    public func run(
        resume: String? = nil, shouldStop: () -> Bool = { false },
        onEvent: (TrainingEvent) -> TrainingDisposition
    ) throws -> TrainingOutcome {
        try withoutActuallyEscaping(onEvent) { try train(resume: resume, shouldStop: shouldStop, onEvent: $0) }
    }

    /// How the model computes in this run: the products by frozen weights in `training.compute_dtype`.
    public var execution: ExecutionOptions { ExecutionOptions(compute: config.training.computeDtype) }

    /// The run in phases (torchtune's recipe shape): set-up (files, events, a resume), the step
    /// loop — each step `optimizerStep`, then logging, evaluation and checkpoints on their cadence —
    /// and the end (a last evaluation and checkpoint, the final adapter).
    private func train(
        resume: String?, shouldStop: () -> Bool,
        onEvent: @escaping (TrainingEvent) -> TrainingDisposition
    ) throws -> TrainingOutcome {
        var progress = try RunProgress(trainer: self, onEvent: onEvent)
        try progress.setUp(resume: resume)
        let streams = StepStreams(trainer: self)
        StepArena.begin()  // activations, gradients and scratch: the same blocks every step
        defer { StepArena.end() }
        while progress.state.step < totalSteps {
            defer { StepArena.endStep() }
            if try group.anyOf(progress.stopRequested || shouldStop()) {  // every rank stops at the same step
                return .interrupted(checkpoint: try progress.checkpointIfNeeded())
            }
            let stepStarted = Stopwatch.now()
            let micro = (0..<config.training.gradAccumulation).map { _ in progress.nextExamples() }
            let result = try optimizerStep(micro, state: &progress.state, streams: streams)
            progress.record(result, stepSeconds: Stopwatch.now() - stepStarted)
            if config.eval.everySteps > 0 && progress.state.step % config.eval.everySteps == 0 { progress.evaluate() }
            if config.checkpoint.everySteps > 0 && progress.state.step % config.checkpoint.everySteps == 0 {
                try progress.checkpoint()
            }
        }
        return .completed(final: try progress.finish())
    }
}
