import Autograd
import Foundation
import Formats
import Support
import Training

/// The bookkeeping of one run around its steps: the set-up (files, events, a resume), the data
/// cursor, step records, evaluations, checkpoints and the end. Rank 0 alone writes files.
struct RunProgress {
    let trainer: Trainer
    let emitEvent: (TrainingEvent) -> TrainingDisposition
    let leads: Bool
    let configYAML: String
    var state: TrainerState
    var stopRequested = false
    private let order: DataOrder
    private var permutation: [Int] = []
    private var lastCheckpoint: (step: Int, url: URL)?
    private var lastEvalStep = -1
    private var started = 0.0, startStep = 0, tokensSeen = 0

    init(trainer: Trainer, onEvent: @escaping (TrainingEvent) -> TrainingDisposition) throws {
        self.trainer = trainer
        emitEvent = onEvent
        leads = trainer.group.isLeader
        configYAML = try ConfigLoader.yaml(trainer.config)
        let config = trainer.config
        state = TrainerState(
            step: 0, epoch: 0, cursor: 0, seed: config.training.seed, configHash: RunCompatibility.hash(config),
            totalSteps: trainer.totalSteps, losses: [])
        order = DataOrder(
            count: trainer.trainExamples.count, seed: RandomState(seed: config.training.seed).split("shuffle"))
    }

    /// Reports `event`; a `.stop` answer asks the loop to stop at the next step.
    mutating func emit(_ event: TrainingEvent) { if emitEvent(event) == .stop { stopRequested = true } }

    /// Set-up: the run folder and its resolved config, the preparation event and warnings,
    /// leftover temporary checkpoints removed, the resume (`latest` or a folder), `run.json`.
    mutating func setUp(resume: String?) throws {
        let t = trainer
        if leads {
            try FileManager.default.createDirectory(at: t.runDirectory, withIntermediateDirectories: true)
            try AtomicFile.write(Data(configYAML.utf8), to: t.runDirectory.appendingPathComponent("config.yaml"))
        }
        emit(
            .prepared(
                Preparation(
                    totalSteps: t.totalSteps, trainExamples: t.trainExamples.count, evalExamples: t.evalExamples.count,
                    trainableParameters: t.arena.count, initError: t.built.initError, plainError: t.built.plainError,
                    data: t.dataCounts, packedExamples: t.config.data.packing ? t.dataCounts.train.usable : nil)))
        if leads { for warning in t.built.warnings { emit(.warning(warning)) } }
        let removed = leads ? Checkpoint.removeLeftovers(in: t.checkpointDirectory) : []
        if !removed.isEmpty { emit(.removedLeftovers(removed)) }
        if let resume { try restore(resume) }
        if leads {
            try RunMetadata.write(
                to: t.runDirectory, configFile: t.configFile, resumedFrom: resume,
                compute: t.config.training.computeDtype, data: t.dataCounts)
        }
        permutation = order.permutation(epoch: state.epoch)
        (started, startStep) = (Stopwatch.now(), state.step)
    }

    /// Loads a verified checkpoint of a compatible config into the model, arena and optimizer.
    private mutating func restore(_ resume: String) throws {
        let t = trainer
        let folder: URL, saved: TrainerState, savedYAML: String
        if resume == "latest" {
            let found = try Checkpoint.latestVerified(in: t.checkpointDirectory)
            for (skipped, reason) in found.skipped { emit(.skippedCheckpoint(skipped, reason: reason)) }
            (folder, saved, savedYAML) = (found.folder, found.state, found.configYAML)
        } else {
            folder = URL(fileURLWithPath: resume)
            (saved, savedYAML) = try Checkpoint.verify(folder)
        }
        if saved.configHash != state.configHash {
            throw TrainingError.incompatibleResume(
                checkpoint: folder.path,
                keys: RunCompatibility.differingKeys(t.config, savedYAML: savedYAML, file: folder.path))
        }
        guard saved.step >= 0, saved.epoch >= 0, saved.epoch < 1 << 20,
            (0...t.trainExamples.count).contains(saved.cursor)
        else {
            throw TrainingError.badCheckpoint(
                path: folder.appendingPathComponent("trainer_state.json").path,
                detail: "step \(saved.step), epoch \(saved.epoch), cursor \(saved.cursor) do not fit "
                    + "a run of \(t.trainExamples.count) examples")
        }
        try Checkpoint.loadWeights(folder, into: t.model, arena: t.arena, optimizer: t.optimizer)
        state = saved
        state.totalSteps = t.totalSteps
        emit(.resumed(step: state.step, from: folder))
    }

    /// The next global micro-batch (every rank draws the same; each then takes its slice).
    mutating func nextExamples() -> [Example] {
        let examples = trainer.trainExamples
        if state.cursor >= examples.count {
            state.epoch += 1
            state.cursor = 0
            permutation = order.permutation(epoch: state.epoch)
        }
        let end = min(examples.count, state.cursor + trainer.config.training.batchSize)
        let batch = permutation[state.cursor..<end].map { examples[$0] }
        state.cursor = end
        return batch
    }

    /// The step record of a finished step, on the logging cadence and at the last step.
    mutating func record(_ result: StepResult, stepSeconds: Double) {
        tokensSeen += result.tokens
        let (step, total) = (state.step, trainer.totalSteps)
        guard step % trainer.config.logging.everySteps == 0 || step == total else { return }
        let elapsed = Stopwatch.now() - started
        var record = StepRecord(
            step: step, totalSteps: total,
            epoch: Double(state.epoch) + Double(state.cursor) / Double(trainer.trainExamples.count),
            loss: result.meanLoss, learningRate: result.learningRate, gradNorm: result.gradNorm,
            tokensPerSecond: Double(tokensSeen) / max(elapsed, 1e-9), elapsedSeconds: elapsed,
            etaSeconds: elapsed / Double(step - startStep) * Double(total - step))
        record.skipped = result.skipped
        record.skippedUpdates = state.skippedSteps?.count ?? 0
        if trainer.group.size > 1 {
            record.stepSeconds = stepSeconds
            record.allReduceSeconds = result.reduceSeconds
        }
        emit(.step(record))
    }

    /// The evaluation loss on the eval set (rank 0; nothing without an eval set).
    mutating func evaluate() {
        let t = trainer
        guard leads, !t.evalExamples.isEmpty || !t.samplePrompts.isEmpty else { return }
        lastEvalStep = state.step
        if !t.evalExamples.isEmpty {
            let result = EvaluationLoss.run(
                model: t.model, examples: t.evalExamples, batchSize: t.config.training.batchSize,
                maxBatches: t.config.eval.maxBatches, padID: t.padID, execution: t.execution)
            emit(
                .evaluation(
                    EvaluationRecord(
                        step: state.step, loss: result.loss, perplexity: result.perplexity,
                        targets: result.targets, batches: result.batches)))
        }
        guard !t.samplePrompts.isEmpty else { return }
        do {
            let records = try t.answerSamples(step: state.step)
            let log = try MetricsLog(url: t.runDirectory.appendingPathComponent("samples.jsonl"))
            for record in records { try log.append(record) }
            emit(.samples(records))
        } catch {
            emit(.warning("eval.samples at step \(state.step): \(error)"))
        }
    }

    /// A checkpoint of this step (rank 0 writes it; the others name the same folder).
    @discardableResult
    mutating func checkpoint() throws -> URL {
        let t = trainer
        let url =
            leads
            ? try Checkpoint.save(
                model: t.model, adapterConfig: t.adapterConfig, arena: t.arena, optimizer: t.optimizer, state: state,
                configYAML: configYAML, directory: t.checkpointDirectory, keepLast: t.config.checkpoint.keepLast)
            : t.checkpointDirectory.appendingPathComponent(Checkpoint.folderName(step: state.step))
        lastCheckpoint = (state.step, url)
        emit(.checkpoint(step: state.step, url: url))
        return url
    }

    /// The checkpoint of this step: the one already written, else a new one.
    @discardableResult
    mutating func checkpointIfNeeded() throws -> URL {
        if let lastCheckpoint, lastCheckpoint.step == state.step { return lastCheckpoint.url }
        return try checkpoint()
    }

    /// The end: a last evaluation and checkpoint where this step has none, the final adapter
    /// (PEFT format) and its config in `runs/NAME/final/`.
    mutating func finish() throws -> URL {
        if lastEvalStep != state.step { evaluate() }
        try checkpointIfNeeded()
        let final = trainer.runDirectory.appendingPathComponent("final")
        if leads {
            try AdapterFiles.writeForPEFT(model: trainer.model, config: trainer.adapterConfig, to: final)
            try AtomicFile.write(Data(configYAML.utf8), to: final.appendingPathComponent("config.yaml"))
        }
        emit(.finished(step: state.step, adapter: final))
        return final
    }
}
