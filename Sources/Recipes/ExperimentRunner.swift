import Autograd
import Foundation
import Llama
import Support
import Training

/// Runs the cells of an `ExperimentConfig` one after another into `RUNS/NAME/CELL/` (ordinary run
/// folders). A cell with `result.json` is finished and skipped; one with a checkpoint resumes from
/// it; so the grid can be run in pieces, interrupted anywhere. Each cell is scored before training
/// (`start.json`, once) and after (`result.json`, written last, atomically).
public final class ExperimentRunner {
    /// What the runner reports while it works.
    public enum Event {
        /// Cell `index` of `count` starts (`resuming`: from its latest checkpoint).
        case cellStarted(cell: String, index: Int, count: Int, resuming: Bool)
        /// The cell was finished before.
        case cellSkipped(cell: String)
        /// The cell's trainer reports.
        case training(cell: String, TrainingEvent)
        /// An evaluation of the cell (`phase` start or final) progresses.
        case evaluating(cell: String, phase: String, what: String, done: Int, total: Int)
        /// The cell is finished.
        case cellFinished(CellResult)
        /// The cell stopped with an error (recorded in its `failure.json`); the grid goes on.
        case cellFailed(cell: String, error: String)
    }

    /// How a run of the grid ended.
    public enum Outcome: Equatable {
        /// Every selected cell has its result.
        case completed
        /// Stopped at the user's request in `cell` (its checkpoint saved).
        case interrupted(cell: String)
    }

    public let experiment: ExperimentConfig
    public let file: String
    /// `RUNS/NAME`.
    public let directory: URL

    /// The runner for the experiment in `file`, writing under `runsRoot`.
    public init(file: String, runsRoot: URL = URL(fileURLWithPath: "runs")) throws {
        experiment = try ExperimentConfig.load(file)
        self.file = file
        directory = runsRoot.appendingPathComponent(experiment.name)
    }

    /// The base config path, resolved against the experiment file's folder.
    var basePath: String {
        experiment.base.hasPrefix("/")
            ? experiment.base
            : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(experiment.base).path
    }

    /// The run config of `cell`: the base, the shared overrides, the cell's, its name.
    public func config(of cell: ExperimentConfig.Cell) throws -> RunConfig {
        try ConfigLoader.load(path: basePath, overrides: experiment.set + cell.set + ["name=\(cell.name)"])
    }

    /// The result of every cell that has one, in grid order.
    public func results() throws -> [CellResult] {
        try experiment.cells.compactMap { try CellResult.read(directory.appendingPathComponent($0.name)) }
    }

    /// The cells that failed (and have no result), in grid order.
    public func failures() -> [CellFailure] {
        experiment.cells.compactMap { cell in
            let folder = directory.appendingPathComponent(cell.name)
            let finished = (try? CellResult.read(folder)).flatMap { $0 } != nil
            return finished ? nil : CellFailure.read(folder)
        }
    }

    /// Runs the cells named in `only` (all when nil) that are not finished yet. A cell that fails
    /// (a non-finite loss, say: QLoRA at 2 bits may diverge, the paper's "N.A.") is recorded in its
    /// `failure.json` and the grid goes on; later runs skip it unless `retryFailed`.
    public func run(
        only: Set<String>? = nil, retryFailed: Bool = false, shouldStop: () -> Bool = { false },
        onEvent: (Event) -> Void
    ) throws -> Outcome {
        if let only, let unknown = only.first(where: { name in !experiment.cells.contains { $0.name == name } }) {
            throw RecipeError.invalidOption(name: "--only", detail: "no cell named '\(unknown)' in \(file)")
        }
        let cells = experiment.cells.filter { only?.contains($0.name) ?? true }
        for (index, cell) in cells.enumerated() {
            let folder = directory.appendingPathComponent(cell.name)
            if try CellResult.read(folder) != nil || (!retryFailed && CellFailure.read(folder) != nil) {
                onEvent(.cellSkipped(cell: cell.name))
                continue
            }
            do {
                if try runCell(
                    cell, index: index, count: cells.count, folder: folder, shouldStop: shouldStop, onEvent: onEvent)
                    == false
                {
                    return .interrupted(cell: cell.name)
                }
            } catch let error as TrainingError {
                // The run itself failed (diverged, bad data): a result of the grid, not a reason to stop it.
                let failure = CellFailure(cell: cell.name, error: "\(error)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try AtomicFile.write(
                    try CellResult.encoder.encode(failure), to: folder.appendingPathComponent("failure.json"))
                onEvent(.cellFailed(cell: cell.name, error: failure.error))
            }
        }
        return .completed
    }

    /// Trains and scores one cell; false when interrupted.
    private func runCell(
        _ cell: ExperimentConfig.Cell, index: Int, count: Int, folder: URL, shouldStop: () -> Bool,
        onEvent: (Event) -> Void
    ) throws -> Bool {
        let config = try config(of: cell)
        let buildStarted = Stopwatch.now()
        let trainer = try Trainer(config: config, configFile: basePath, runsRoot: directory)
        let buildSeconds = Stopwatch.now() - buildStarted
        let latest = trainer.checkpointDirectory.appendingPathComponent("latest")
        let resuming = FileManager.default.fileExists(atPath: latest.path)
        onEvent(.cellStarted(cell: cell.name, index: index, count: count, resuming: resuming))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        let start: CellScores
        if let saved = try CellScores.read(folder.appendingPathComponent("start.json")) {
            start = saved
        } else {
            // The start is scored once, before any step (a resumed cell has moved on from it).
            start = try score(trainer.model, trainer: trainer, cell: cell.name, phase: "start", onEvent: onEvent)
            try AtomicFile.write(try CellResult.encoder.encode(start), to: folder.appendingPathComponent("start.json"))
        }
        let metrics = try MetricsLog(url: folder.appendingPathComponent("metrics.jsonl"))
        let trainStarted = Stopwatch.now()
        var lastLoss: Float?
        let outcome = try trainer.run(resume: resuming ? "latest" : nil, shouldStop: shouldStop) { event in
            metrics.record(event)
            if case .step(let record) = event { lastLoss = record.loss }
            onEvent(.training(cell: cell.name, event))
            return .proceed
        }
        let timing = try CellTiming.add(
            trainSeconds: Stopwatch.now() - trainStarted, buildSeconds: buildSeconds, in: folder)
        guard case .completed = outcome else { return false }
        let final = try score(trainer.model, trainer: trainer, cell: cell.name, phase: "final", onEvent: onEvent)
        let quantization = config.quantization
        let result = CellResult(
            cell: cell.name,
            method: CellResult.method(quantized: quantization != nil, initialization: config.lora.initialization),
            bits: quantization?.bits, rank: config.lora.rank, alpha: config.lora.alpha,
            loftqIters: config.lora.loftqIters,
            steps: trainer.totalSteps, start: start, final: final, lastLoss: lastLoss, timing: timing,
            computeType: config.training.computeDtype, runtime: .current(compute: config.training.computeDtype))
        try AtomicFile.write(try CellResult.encoder.encode(result), to: folder.appendingPathComponent("result.json"))
        onEvent(.cellFinished(result))
        return true
    }

    /// Scores `model` as the experiment says (perplexity and/or GSM8K), with the trainer's start errors.
    private func score(_ model: LlamaModel, trainer: Trainer, cell: String, phase: String, onEvent: (Event) -> Void)
        throws -> CellScores
    {
        let started = Stopwatch.now()
        var scores = CellScores(
            initError: trainer.built.initError, plainError: trainer.built.plainError,
            matrixErrors: phase == "start" ? trainer.built.matrixErrors : [])
        let execution = trainer.execution
        if let spec = experiment.evaluate.perplexity {
            let blocks = try Perplexity.blocks(
                file: spec.data, kind: spec.protocol, tokenizer: trainer.tokenizer, length: spec.seqLen,
                maxBlocks: spec.maxBlocks)
            let result = Perplexity.evaluate(model: model, blocks: blocks, batch: spec.batch, execution: execution) {
                done, total in
                onEvent(.evaluating(cell: cell, phase: phase, what: "perplexity", done: done, total: total))
            }
            scores.perplexity = result.perplexity
            scores.meanNLL = result.meanNLL
            scores.nllStandardError = result.standardError
        }
        if let spec = experiment.evaluate.gsm8k {
            let problems = try GSM8K.load(spec.data, limit: spec.limit)
            var done = 0
            let result = try GSM8KEvaluation.run(
                model: model, tokenizer: trainer.tokenizer, problems: problems, batch: spec.batch,
                maxNewTokens: spec.maxNewTokens, sampling: Sampling(temperature: 0), seed: 0,
                execution: execution
            ) { _ in
                done += 1
                onEvent(.evaluating(cell: cell, phase: phase, what: "gsm8k", done: done, total: problems.count))
            }
            scores.gsm8kAccuracy = result.accuracy
            scores.gsm8kQuestions = result.questions
        }
        scores.seconds = Stopwatch.now() - started
        return scores
    }
}
