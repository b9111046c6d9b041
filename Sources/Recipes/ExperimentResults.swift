import Autograd
import Foundation
import LoRA
import Support
import Training

/// The scores of a cell's model at one moment (the start, after initialisation, or the end).
public struct CellScores: Codable, Sendable {
    /// Perplexity, mean NLL and its standard error (nil without a perplexity evaluation).
    public var perplexity: Double?, meanNLL: Double?, nllStandardError: Double?
    /// GSM8K accuracy over `gsm8kQuestions` (nil without a GSM8K evaluation).
    public var gsm8kAccuracy: Double?, gsm8kQuestions: Int?
    /// Mean init error and plain quantization error over the quantized targets (nil: none quantized).
    public var initError: Double?, plainError: Double?
    /// Per quantized target (the start only).
    public var matrixErrors: [ModelBuilder.MatrixInitError] = []
    /// Seconds the evaluation took.
    public var seconds: Double = 0

    /// The binomial standard error of the GSM8K accuracy, √(p(1−p)/n).
    public var gsm8kStandardError: Double? {
        guard let p = gsm8kAccuracy, let n = gsm8kQuestions, n > 0 else { return nil }
        return (p * (1 - p) / Double(n)).squareRoot()
    }

    /// The scores saved in `url`, nil when there are none.
    static func read(_ url: URL) throws -> CellScores? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do { return try CellResult.decoder.decode(CellScores.self, from: data) } catch {
            throw TrainingError.badData(
                file: url.path, line: nil,
                detail: "not a cell score record (\(error.localizedDescription)); delete it to score again")
        }
    }
}

/// Wall time a cell has spent, summed over the sittings that trained it (`timing.json`).
public struct CellTiming: Codable, Sendable {
    public var trainSeconds: Double = 0, buildSeconds: Double = 0, sittings = 0

    /// Adds one sitting to the timing saved in `folder` and saves it.
    static func add(trainSeconds: Double, buildSeconds: Double, in folder: URL) throws -> CellTiming {
        let url = folder.appendingPathComponent("timing.json")
        var timing =
            FileManager.default.contents(atPath: url.path).flatMap {
                try? CellResult.decoder.decode(CellTiming.self, from: $0)
            } ?? CellTiming()
        timing.trainSeconds += trainSeconds
        timing.buildSeconds += buildSeconds
        timing.sittings += 1
        try AtomicFile.write(try CellResult.encoder.encode(timing), to: url)
        return timing
    }
}

/// A finished cell (`result.json`): what it was, its scores before and after training, its time.
public struct CellResult: Codable, Sendable {
    public let cell: String
    /// `lora` (fp32 base), `qlora` (quantized, Gaussian init), `loftq`, `loftq_peft`.
    public let method: String
    /// The base's bits (nil: not quantized).
    public let bits: Double?
    public let rank: Int, alpha: Float, loftqIters: Int, steps: Int
    public let start: CellScores, final: CellScores
    /// The last logged training loss.
    public let lastLoss: Float?
    public let timing: CellTiming
    public let computeType: ComputeType
    public let runtime: RuntimeInfo

    /// The method name of a cell's set-up.
    static func method(quantized: Bool, initialization: LoRAInitialization) -> String {
        guard quantized else { return "lora" }
        switch initialization {
        case .gaussian: return "qlora"
        case .adapter: return "adapter"
        case .loftq: return "loftq"
        case .loftqPEFT: return "loftq_peft"
        case .loftqAware: return "loftq_aware"
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// The result saved in a cell folder, nil when the cell is not finished.
    public static func read(_ folder: URL) throws -> CellResult? {
        let url = folder.appendingPathComponent("result.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do { return try decoder.decode(CellResult.self, from: data) } catch {
            throw TrainingError.badData(
                file: url.path, line: nil,
                detail: "not a cell result (\(error.localizedDescription)); delete it to rerun the cell")
        }
    }
}

/// A cell whose run stopped with an error (`failure.json`): shown in the table as such.
public struct CellFailure: Codable, Sendable {
    public let cell: String, error: String

    /// The failure saved in a cell folder, nil when there is none (or it cannot be read).
    public static func read(_ folder: URL) -> CellFailure? {
        FileManager.default.contents(atPath: folder.appendingPathComponent("failure.json").path)
            .flatMap { try? CellResult.decoder.decode(CellFailure.self, from: $0) }
    }
}
