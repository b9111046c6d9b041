import Autograd
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
    public init(config: RunConfig, configFile: String, runsRoot: URL = URL(fileURLWithPath: "runs"),
                group: ProcessGroup = .single) throws {
        try ConfigLoader.validate(config, file: configFile)
        try ConfigLoader.checkPaths(config, file: configFile)
        guard config.training.batchSize % group.size == 0 else {
            throw TrainingError.invalidValue(file: configFile, key: "training.batch_size",
                                             detail: "\(config.training.batchSize) cannot be split evenly over \(group.size) ranks")
        }
        self.group = group
        self.config = config
        self.configFile = configFile
        runDirectory = runsRoot.appendingPathComponent(config.name)
        built = try ModelBuilder.build(config, file: configFile, group: group)
        (model, tokenizer) = (built.model, built.tokenizer)
        let tokenizer = built.tokenizer
        trainExamples = try DatasetLoader.examples(config.data.trainPath, data: config.data, tokenizer: tokenizer,
                                                   limit: config.data.limitTrain)
        evalExamples = try config.data.evalPath.map { try DatasetLoader.examples($0, data: config.data, tokenizer: tokenizer) } ?? []
        let t = config.training
        let batchesPerEpoch = (trainExamples.count + t.batchSize - 1) / t.batchSize
        let stepsPerEpoch = (batchesPerEpoch + t.gradAccumulation - 1) / t.gradAccumulation
        totalSteps = t.maxSteps > 0 ? t.maxSteps : t.epochs * stepsPerEpoch
        let warmup = t.warmupSteps > 0 ? t.warmupSteps : Int((t.warmupRatio * Double(totalSteps)).rounded(.up))
        schedule = LRSchedule(kind: t.schedule, peak: Double(t.learningRate),
                              warmupSteps: warmup, totalSteps: totalSteps)
        arena = ParameterArena(model.trainableParameters.map(\.tensor))
        optimizer = AdamW(count: arena.count, beta1: t.betas[0], beta2: t.betas[1], eps: t.eps, weightDecay: t.weightDecay)
        padID = tokenizer.eosID ?? 0
    }

    /// The checkpoint folder.
    public var checkpointDirectory: URL {
        config.checkpoint.dir.map { URL(fileURLWithPath: $0) } ?? runDirectory.appendingPathComponent("checkpoints")
    }

    /// The adapter config written with every checkpoint and the final adapter.
    var adapterConfig: AdapterConfig {
        let lora = config.lora
        return AdapterConfig(initialization: lora.initialization, rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout,
                             targetModules: lora.targetModules, bits: config.quantization?.bits, iterations: lora.loftqIters,
                             base: config.model.path)
    }

    /// Trains until `totalSteps`, or until `onEvent` returns `.stop` / `shouldStop()` is true (then
    /// a checkpoint is saved). `resume` is `latest` or a checkpoint folder.
    public func run(resume: String? = nil, shouldStop: () -> Bool = { false },
                    onEvent: (TrainingEvent) -> TrainingDisposition) throws -> TrainingOutcome {
        try train(resume: resume, shouldStop: shouldStop, onEvent: onEvent)
    }

    /// How the model computes in this run: the products by frozen weights in `training.compute_dtype`.
    public var execution: ExecutionOptions { ExecutionOptions(compute: config.training.computeDtype) }

    private func train(resume: String?, shouldStop: () -> Bool, onEvent: (TrainingEvent) -> TrainingDisposition) throws -> TrainingOutcome {
        let leads = group.isLeader   // rank 0 alone writes files
        let configYAML = try ConfigLoader.yaml(config)
        if leads {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            try AtomicFile.write(Data(configYAML.utf8), to: runDirectory.appendingPathComponent("config.yaml"))
        }
        var state = TrainerState(step: 0, epoch: 0, cursor: 0, seed: config.training.seed, configHash: RunCompatibility.hash(config),
                                 totalSteps: totalSteps, losses: [])
        var stopRequested = false
        func emit(_ event: TrainingEvent) { if onEvent(event) == .stop { stopRequested = true } }
        emit(.prepared(Preparation(totalSteps: totalSteps, trainExamples: trainExamples.count, evalExamples: evalExamples.count,
                                   trainableParameters: arena.count,
                                   initError: built.initError, plainError: built.plainError)))
        if leads { built.warnings.forEach { emit(.warning($0)) } }
        let removed = leads ? Checkpoint.removeLeftovers(in: checkpointDirectory) : []
        if !removed.isEmpty { emit(.removedLeftovers(removed)) }
        if let resume {
            let folder: URL, saved: TrainerState, savedYAML: String
            if resume == "latest" {
                let found = try Checkpoint.latestVerified(in: checkpointDirectory)
                for (skipped, reason) in found.skipped { emit(.skippedCheckpoint(skipped, reason: reason)) }
                (folder, saved, savedYAML) = (found.folder, found.state, found.configYAML)
            } else {
                folder = URL(fileURLWithPath: resume)
                (saved, savedYAML) = try Checkpoint.verify(folder)
            }
            if saved.configHash != state.configHash {
                throw TrainingError.incompatibleResume(checkpoint: folder.path,
                                                       keys: RunCompatibility.differingKeys(config, savedYAML: savedYAML, file: folder.path))
            }
            guard saved.step >= 0, saved.epoch >= 0, saved.epoch < 1 << 20, (0...trainExamples.count).contains(saved.cursor) else {
                throw TrainingError.badCheckpoint(path: folder.appendingPathComponent("trainer_state.json").path,
                                                  detail: "step \(saved.step), epoch \(saved.epoch), cursor \(saved.cursor) do not fit "
                                                      + "a run of \(trainExamples.count) examples")
            }
            try Checkpoint.loadWeights(folder, into: model, arena: arena, optimizer: optimizer)
            state = saved
            state.totalSteps = totalSteps
            emit(.resumed(step: state.step, from: folder))
        }
        if leads { try RunMetadata.write(to: runDirectory, configFile: configFile, resumedFrom: resume) }

        let order = DataOrder(count: trainExamples.count, seed: RandomState(seed: config.training.seed).split("shuffle"))
        var permutation = order.permutation(epoch: state.epoch)
        let dropoutRoot = RandomState(seed: config.training.seed).split("dropout")
        let loraLayers = model.blocks.enumerated().flatMap { layer, block in
            LinearModule.allCases.compactMap { module in (block[module] as? LoRALinear).map { ("\(layer).\(module.rawValue)", $0) } }
        }
        let started = Stopwatch.now()
        let startStep = state.step
        var tokensSeen = 0
        var lastCheckpoint: URL?, lastCheckpointStep = -1, lastEvalStep = -1

        /// The next global micro-batch (every rank draws the same; each then takes its slice).
        func nextExamples() -> [Example] {
            if state.cursor >= trainExamples.count {
                state.epoch += 1
                state.cursor = 0
                permutation = order.permutation(epoch: state.epoch)
            }
            let end = min(trainExamples.count, state.cursor + config.training.batchSize)
            let examples = permutation[state.cursor..<end].map { trainExamples[$0] }
            state.cursor = end
            return examples
        }
        func checkpoint() throws {
            lastCheckpoint = leads
                ? try Checkpoint.save(model: model, adapterConfig: adapterConfig, arena: arena, optimizer: optimizer, state: state,
                                      configYAML: configYAML, directory: checkpointDirectory, keepLast: config.checkpoint.keepLast)
                : checkpointDirectory.appendingPathComponent(Checkpoint.folderName(step: state.step))
            lastCheckpointStep = state.step
            emit(.checkpoint(step: state.step, url: lastCheckpoint!))
        }
        func evaluate() {
            guard leads, !evalExamples.isEmpty else { return }
            let result = EvaluationLoss.run(model: model, examples: evalExamples, batchSize: config.training.batchSize,
                                            maxBatches: config.eval.maxBatches, padID: padID, execution: execution)
            lastEvalStep = state.step
            emit(.evaluation(EvaluationRecord(step: state.step, loss: result.loss, perplexity: result.perplexity,
                                              targets: result.targets, batches: result.batches)))
        }

        let t = config.training
        let guardsSpikes = t.skipLossZScore > 0 || t.skipGradZScore > 0
        StepArena.begin()  // activations, gradients and scratch: the same blocks every step
        defer { StepArena.end() }
        while state.step < totalSteps {
            defer { StepArena.endStep() }
            if try group.anyOf(stopRequested || shouldStop()) {   // every rank stops at the same step
                if lastCheckpointStep != state.step { try checkpoint() }
                return .interrupted(checkpoint: lastCheckpoint!)
            }
            // The loss is the mean over every target of the global batch (micro-batches × ranks),
            // so N ranks with batch B/N give the numbers of one process with batch B.
            let stepStarted = Stopwatch.now()
            let micro = (0..<config.training.gradAccumulation).map { _ in nextExamples() }
            let globalTargets = Double(max(1, micro.joined().reduce(0) { $0 + $1.targetCount }))
            var localLossSum = 0.0
            for (index, examples) in micro.enumerated() {
                tokensSeen += examples.reduce(0) { $0 + $1.tokens.count }
                let mine = Self.slice(examples, rank: group.rank, of: group.size)
                guard !mine.isEmpty else { continue }
                let batch = Batch(Array(mine), padID: padID)
                StepArena.beginBatch(shape: [batch.batchSize, batch.steps])  // a new length frees the last one's buffers
                let targets = Double(batch.targetCount)
                if config.lora.dropout > 0 {
                    let stream = dropoutRoot.split("step-\(state.step)-micro-\(index)")
                    for (name, layer) in loraLayers { layer.dropoutRNG = stream.split(name) }
                }
                let loss = model.loss(tokens: batch.tokens, labels: batch.labels, batch: batch.batchSize, steps: batch.steps,
                                      checkpointing: config.training.activationCheckpointing, execution: execution)
                localLossSum += Double(loss.item) * targets
                loss.scaled(by: Float(targets / globalTargets)).backward()
            }
            for (_, layer) in loraLayers { layer.dropoutRNG = nil }
            let reduceStarted = Stopwatch.now()
            try group.sumInRankOrder(arena.grads)
            let reduceSeconds = Stopwatch.now() - reduceStarted
            let meanLoss = Float(try group.sumInRankOrder([localLossSum])[0] / globalTargets)
            guard meanLoss.isFinite else { throw TrainingError.nonFinite(step: state.step + 1, what: "the loss") }
            let norm = config.training.maxGradNorm > 0
                ? GradientClipping.clip(arena.grads, maxNorm: config.training.maxGradNorm)
                : GradientClipping.globalNorm(UnsafeBufferPointer(arena.grads))
            guard norm.isFinite else { throw TrainingError.nonFinite(step: state.step + 1, what: "the gradient norm") }
            let lr = schedule.learningRate(at: state.step)
            var skipped = false
            if guardsSpikes {
                var spikeGuard = state.spikeGuard ?? SpikeGuard(window: t.spikeWindow)
                skipped = spikeGuard.shouldSkip(loss: meanLoss, gradNorm: norm, lossBound: t.skipLossZScore, gradBound: t.skipGradZScore)
                state.spikeGuard = spikeGuard
                if skipped { state.skippedSteps = (state.skippedSteps ?? []) + [state.step + 1] }
            }
            if !skipped { optimizer.update(arena, lr: lr) }
            arena.zeroGrads()
            state.step += 1
            state.losses.append(meanLoss)

            if state.step % config.logging.everySteps == 0 || state.step == totalSteps {
                let elapsed = Stopwatch.now() - started
                let done = Double(state.step - startStep)
                var record = StepRecord(step: state.step, totalSteps: totalSteps,
                                        epoch: Double(state.epoch) + Double(state.cursor) / Double(trainExamples.count),
                                        loss: meanLoss, learningRate: lr, gradNorm: norm,
                                        tokensPerSecond: Double(tokensSeen) / max(elapsed, 1e-9), elapsedSeconds: elapsed,
                                        etaSeconds: elapsed / done * Double(totalSteps - state.step))
                (record.skipped, record.skippedUpdates) = (skipped, state.skippedSteps?.count ?? 0)
                if group.size > 1 { (record.stepSeconds, record.allReduceSeconds) = (Stopwatch.now() - stepStarted, reduceSeconds) }
                emit(.step(record))
            }
            if config.eval.everySteps > 0 && state.step % config.eval.everySteps == 0 { evaluate() }
            if config.checkpoint.everySteps > 0 && state.step % config.checkpoint.everySteps == 0 { try checkpoint() }
        }
        if lastEvalStep != state.step { evaluate() }
        if lastCheckpointStep != state.step { try checkpoint() }
        let final = runDirectory.appendingPathComponent("final")
        if leads {
            try AdapterFiles.write(model: model, config: adapterConfig, to: final)
            try AtomicFile.write(Data(configYAML.utf8), to: final.appendingPathComponent("config.yaml"))
        }
        emit(.finished(step: state.step, adapter: final))
        return .completed(final: final)
    }
}
