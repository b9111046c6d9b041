import Recipes
import ArgumentParser
import Foundation

/// `loft quantize`: the one-time LoftQ set-up of a quantized base and its initial adapters.
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Quantize a model's linears (NF4/NF2/mixed) and initialise LoRA adapters with LoftQ.")

    @Option(help: "A GGUF file, a Hugging Face folder or a llama2.c .bin file.")
    var model: String
    @Option(
        help:
            "The tokenizer to copy into the folder: a tokenizer.model or a folder with tokenizer.json (default: the model's own)."
    )
    var tokenizer: String?
    @Option(help: "Bits per weight: 4, 3, 2.5, 2.25 or 2 (8 with --method uniform).")
    var bits: Double = 4
    @Option(help: "nf (NormalFloat) or uniform (symmetric absmax).")
    var method: QuantizationMethod = .nf
    @Option(help: "Elements per absmax block.")
    var blockSize = 64
    @Flag(help: "Quantize the absmax values too (8-bit, blocks of 256).")
    var doubleQuant = false
    @Option(help: "LoRA rank R.")
    var rank = 16
    @Option(help: "LoRA alpha (scaling = alpha / rank).")
    var alpha: Float = 16
    @Option(help: "LoftQ alternating steps T.")
    var loftqIters = 5
    @Option(
        name: .customLong("init"),
        help: "loftq, loftq_aware (activation-weighted: needs --calibration-data) or gaussian (QLoRA's init).")
    var initialization: AdapterInitialization = .loftq
    @Option(help: "exact, randomized or auto (exact up to 1024 on the short side).")
    var svd = "auto"
    @Option(help: "Seed for the randomized SVD and the gaussian init.")
    var seed: UInt64 = 0
    @Option(help: "The output folder (must not exist).")
    var out: String
    @Option(
        help:
            "Text or JSON lines to calibrate on: the inputs' second moments weight loftq_aware's error (and every start's reported activation error)."
    )
    var calibrationData: String?
    @Option(help: "Calibration sequences.")
    var calibrationSamples = 128
    @Option(help: "Tokens per calibration sequence.")
    var calibrationSeqLen = 512
    @Option(help: "exact (Σ^1/2) or diagonal (diag(Σ)^1/2) weighting for loftq_aware.")
    var calibrationForm: ActivationWeightingForm = .exact
    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    func validate() throws {
        guard ["exact", "randomized", "auto"].contains(svd) else {
            throw ValidationError("--svd must be exact, randomized or auto")
        }
    }

    func run() throws {
        try onEveryRank { group in try quantize(group: group) }
    }

    /// Under mpirun the matrices are split over the ranks; rank 0 prints and writes the folder.
    func quantize(group: ProcessGroup) throws {
        var options = try LoftQuantizer.Options(
            bits: bits, method: method, blockSize: blockSize, doubleQuant: doubleQuant, rank: rank,
            alpha: alpha, iterations: loftqIters, initialization: initialization, svd: svd, seed: seed)
        options.calibration = calibrationData.map {
            CalibrationOptions(
                data: $0, sequences: calibrationSamples, length: calibrationSeqLen, form: calibrationForm)
        }
        try options.validate()
        let json = self.json || !group.isLeader
        let quiet = !group.isLeader
        if !json {
            print(
                "matrix                                      codebook   plain err   \(initialization.rawValue) err   seconds"
            )
        }
        let report = try LoftQuantizer.quantize(
            model: model, tokenizer: tokenizer, options: options,
            output: URL(fileURLWithPath: out), group: group
        ) { matrix in
            if !json {
                print(
                    matrix.name.padding(toLength: 44, withPad: " ", startingAt: 0)
                        + matrix.codebook.padding(toLength: 9, withPad: " ", startingAt: 0)
                        + String(format: "%10.6f %12.6f %9.2f", matrix.plainError, matrix.initError, matrix.seconds))
            }
        }
        let peak = ProcessMemory.peakResidentBytes
        if quiet { return }
        if json {
            try printJSON(QuantizeOutput(report: report, peakRssBytes: peak, output: out))
            return
        }
        print(
            String(
                format: "average: plain %.6f, %@ %.6f; %.4f bits/weight (codes + scales); %.1f s; peak RSS %.1f MiB",
                report.averagePlainError, initialization.rawValue as NSString, report.averageInitError,
                report.bitsPerWeight, report.seconds, Double(peak) / 1_048_576))
        if let plain = report.averageActivationPlainError, let start = report.averageActivationInitError,
            let calibration = report.calibration
        {
            print(
                String(
                    format: "activation-weighted: plain %.6f, %@ %.6f; calibration %d × %d tokens, %.1f s, %.0f MB",
                    plain, initialization.rawValue as NSString, start, calibration.sequences,
                    calibration.tokens / max(calibration.sequences, 1), calibration.seconds, calibration.megabytes))
        }
        print("wrote \(out)")
    }
}

/// What `loft quantize --json` prints.
struct QuantizeOutput: Encodable {
    let report: LoftQuantizer.Report
    let peakRssBytes: Int
    let output: String
}

extension QuantizationMethod: ExpressibleByArgument {}
extension AdapterInitialization: ExpressibleByArgument {}
extension ActivationWeightingForm: ExpressibleByArgument {}
