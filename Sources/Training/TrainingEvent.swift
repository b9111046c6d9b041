import Foundation

/// What the trainer reports while it runs (the library never prints; the CLI does).
public enum TrainingEvent: Sendable {
    /// Model and data are ready.
    case prepared(Preparation)
    /// Something about the start the user should know (the run goes on).
    case warning(String)
    /// Training continues from a checkpoint.
    case resumed(step: Int, from: URL)
    /// Temporary checkpoint folders left by writes killed half-way were removed.
    case removedLeftovers([String])
    /// `--resume latest` passed over a newer checkpoint that does not verify.
    case skippedCheckpoint(URL, reason: String)
    /// An optimizer step finished (every `logging.every_steps`, and the last).
    case step(StepRecord)
    /// An evaluation finished.
    case evaluation(EvaluationRecord)
    /// The answers to `eval.samples` at an evaluation.
    case samples([SampleRecord])
    /// A checkpoint was written.
    case checkpoint(step: Int, url: URL)
    /// Training finished; the final adapter is in `adapter`.
    case finished(step: Int, adapter: URL)
}

/// The sizes of a run, reported once.
public struct Preparation: Codable, Sendable {
    public let totalSteps: Int, trainExamples: Int, evalExamples: Int, trainableParameters: Int
    /// Mean LoftQ/QLoRA init error and plain quantization error over the quantized targets.
    public let initError: Double?, plainError: Double?
    /// What the data files gave: examples kept, cut to max_seq_len, refused.
    public var data: DataCountsByFile? = nil
    /// With `data.packing`: the training examples packed into the `trainExamples` rows.
    public var packedExamples: Int? = nil

    /// A record from its values.
    public init(
        totalSteps: Int, trainExamples: Int, evalExamples: Int, trainableParameters: Int, initError: Double?,
        plainError: Double?, data: DataCountsByFile? = nil, packedExamples: Int? = nil
    ) {
        (self.data, self.packedExamples) = (data, packedExamples)
        self.totalSteps = totalSteps
        self.trainExamples = trainExamples
        self.evalExamples = evalExamples
        self.trainableParameters = trainableParameters
        (self.initError, self.plainError) = (initError, plainError)
    }
}

/// One logged optimizer step (a line of `metrics.jsonl`).
public struct StepRecord: Codable, Sendable {
    public var kind = "train"
    public let step: Int, totalSteps: Int
    /// Epochs completed, fractional.
    public let epoch: Double
    public let loss: Float, learningRate: Double, gradNorm: Double
    public let tokensPerSecond: Double, elapsedSeconds: Double, etaSeconds: Double
    /// Steps whose update the spike guard skipped so far in the run (this one included).
    public var skippedUpdates = 0
    /// Whether this step's update was skipped (its loss or gradient norm was an outlier).
    public var skipped = false
    /// Over MPI: this step's wall time, and the part of it spent in the gradient all-reduce (nil
    /// for one process).
    public var stepSeconds: Double? = nil, allReduceSeconds: Double? = nil

    /// A record from its values.
    public init(
        step: Int, totalSteps: Int, epoch: Double, loss: Float, learningRate: Double, gradNorm: Double,
        tokensPerSecond: Double, elapsedSeconds: Double, etaSeconds: Double
    ) {
        self.step = step
        self.totalSteps = totalSteps
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
        self.tokensPerSecond = tokensPerSecond
        self.elapsedSeconds = elapsedSeconds
        self.etaSeconds = etaSeconds
    }
}

/// One evaluation (a line of `metrics.jsonl`).
public struct EvaluationRecord: Codable, Sendable {
    public var kind = "eval"
    public let step: Int
    public let loss: Double, perplexity: Double, targets: Int, batches: Int

    /// A record from its values.
    public init(step: Int, loss: Double, perplexity: Double, targets: Int, batches: Int) {
        self.step = step
        self.loss = loss
        self.perplexity = perplexity
        self.targets = targets
        self.batches = batches
    }
}

/// One `eval.samples` answer (a line of `samples.jsonl`).
public struct SampleRecord: Codable, Sendable {
    public let step: Int, index: Int
    /// The prompt as the model saw it (the rendered chat prompt in a chat run), and the answer.
    public let prompt: String, output: String
    /// Whether generation ended at an end-of-turn (or EOS) token rather than the token limit.
    public let stopped: Bool

    /// A record from its values.
    public init(step: Int, index: Int, prompt: String, output: String, stopped: Bool) {
        self.step = step
        self.index = index
        self.prompt = prompt
        self.output = output
        self.stopped = stopped
    }
}

/// Whether the trainer should go on after an event.
public enum TrainingDisposition: Sendable { case proceed, stop }

/// How a run ended.
public enum TrainingOutcome: Sendable {
    /// All steps done; the final adapter folder.
    case completed(final: URL)
    /// Stopped on request after saving this checkpoint.
    case interrupted(checkpoint: URL)
}

/// Appends records to `runs/NAME/metrics.jsonl`, one JSON object per line.
public final class MetricsLog {
    private let handle: FileHandle
    private let encoder: JSONEncoder

    /// Opens (creating) the log at `url` for appending.
    public init(url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw TrainingError.badData(file: url.path, line: nil, detail: "cannot open for appending")
        }
        handle.seekToEndOfFile()
        self.handle = handle
        encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
    }

    deinit { try? handle.close() }

    /// Appends one record.
    public func append<T: Encodable>(_ record: T) throws {
        var line = try encoder.encode(record)
        line.append(0x0A)
        handle.write(line)
    }

    /// Appends the record a trainer event carries (a step or an evaluation); other events are not
    /// metrics. Best effort: a metrics line that cannot be encoded does not stop training.
    public func record(_ event: TrainingEvent) {
        switch event {
        case .step(let record): try? append(record)
        case .evaluation(let record): try? append(record)
        default: break
        }
    }
}
