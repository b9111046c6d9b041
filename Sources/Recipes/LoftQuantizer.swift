import Autograd
import Distributed
import Formats
import Foundation
import Llama
import LoRA
import Quantization
import Support

/// `loft quantize`: the one-time set-up of a LoftQ (or QLoRA) seed. It streams a checkpoint one
/// tensor at a time, quantizes the seven decoder linears of every layer with their initial
/// adapters, and writes a `QuantizedFolder`. Peak memory is the quantized model plus the fp32
/// work of one matrix.
public enum LoftQuantizer {
    /// Everything `loft quantize` takes.
    public struct Options: Sendable {
        public var spec: QuantizationSpec
        public var rank: Int, alpha: Float, iterations: Int
        public var initialization: LoRAInitialization
        /// nil: exact SVD up to 1024 on the short side, randomized above.
        public var svd: LoftQ.SVDMethod?
        public var seed: UInt64
        /// Calibration data (needed by `loftq_aware`; with another start, its activation-weighted
        /// errors are reported too).
        public var calibration: CalibrationOptions? = nil

        /// Throws when a value cannot give a usable folder (each error names its flag).
        public func validate() throws {
            if let problem = spec.problem { throw RecipeError.invalidOption(name: "--bits", detail: problem) }
            guard rank >= 1 && rank <= 1 << 16 else {
                throw RecipeError.invalidOption(name: "--rank", detail: "\(rank); expected 1...65536")
            }
            guard alpha > 0 && alpha.isFinite else {
                throw RecipeError.invalidOption(
                    name: "--alpha", detail: "\(alpha); expected a finite value > 0 (scaling = alpha / rank)")
            }
            guard iterations >= 1 && iterations <= 1000 else {
                throw RecipeError.invalidOption(name: "--loftq-iters", detail: "\(iterations); expected 1...1000")
            }
            try calibration?.validate()
        }

        /// Options; LoftQ with T = 5 and an automatic SVD choice by default.
        public init(
            spec: QuantizationSpec, rank: Int = 16, alpha: Float = 16, iterations: Int = 5,
            initialization: LoRAInitialization = .loftq, svd: LoftQ.SVDMethod? = nil, seed: UInt64 = 0
        ) {
            self.spec = spec
            self.rank = rank
            self.alpha = alpha
            self.iterations = iterations
            self.initialization = initialization
            self.svd = svd
            self.seed = seed
        }
    }

    /// The errors of one matrix.
    public struct MatrixReport: Codable, Sendable {
        /// HF module path, e.g. `model.layers.0.self_attn.q_proj`.
        public let name: String
        public let codebook: String
        public let shape: [Int]
        /// `‖W − deq(q(W))‖/‖W‖`.
        public let plainError: Double
        /// `‖W − deq(Q) − s·B·A‖/‖W‖` of the kept iterate (equal to plain for gaussian init).
        public let initError: Double
        /// The error after every LoftQ step.
        public let iterationErrors: [Double]
        public let seconds: Double
        /// With calibration: `‖(W − deq(q(W)))·S‖/‖W·S‖` and the kept start's, S = Σ^{1/2} of the
        /// layer's inputs (the error on what the layer computes).
        public var activationPlainError: Double? = nil, activationInitError: Double? = nil
    }

    /// The summary of a run.
    public struct Report: Codable, Sendable {
        public let matrices: [MatrixReport]
        public let averagePlainError: Double, averageInitError: Double
        /// Storage bits per quantized weight (codes and scales).
        public let bitsPerWeight: Double
        public let seconds: Double
        public let initialization: String
        public let layerCodebooks: [String]
        /// With calibration: the averages of the matrices' activation-weighted errors, and the pass.
        public var averageActivationPlainError: Double? = nil, averageActivationInitError: Double? = nil
        public var calibration: CalibrationStatistics.Summary? = nil
    }

    /// Quantizes `source` into `output` (which must not exist yet; written under a temporary
    /// name and renamed when complete). `onMatrix` sees each matrix as it is done. With a `group`
    /// of N ranks, rank r computes matrices r, r + N, …; the results are gathered and rank 0
    /// alone writes the folder (the others return the same report, having written nothing).
    /// Phases: check, start every matrix (`StartPlan`, shared with `loft train`), summarise, write.
    public static func run(
        source: CheckpointSource, tokenizerPath: String?, options: Options, output: URL,
        group: ProcessGroup = .single, calibrationRows: [[Int32]]? = nil,
        writeTokenizer: (URL) throws -> Void = { _ in },
        onMatrix: (MatrixReport) -> Void = { _ in }
    ) throws -> Report {
        try options.validate()
        try source.validate()
        guard !group.isLeader || !FileManager.default.fileExists(atPath: output.path) else {
            throw RecipeError.invalidOption(name: "--out", detail: "\(output.path) already exists; choose a new folder")
        }
        let started = Stopwatch.now()
        if options.initialization == .loftqAware && calibrationRows == nil {
            throw RecipeError.invalidOption(name: "--init", detail: "loftq_aware needs --calibration-data FILE")
        }
        var plan = StartPlan(options, layers: source.config.layers)
        var calibration: (statistics: CalibrationStatistics, summary: CalibrationStatistics.Summary)? = nil
        if let rows = calibrationRows {
            calibration = try CalibrationStatistics.collect(
                source: source, rows: rows, modules: Set(LinearModule.allCases), option: "--calibration-data")
            plan.calibration = calibration?.statistics
            plan.weightingForm = options.calibration?.form ?? .exact
        }
        let matrices = plan.matrices
        var reports: [MatrixReport] = []
        var results: [LoftQ.Result] = []
        for (index, timed) in try plan.startAll(
            source: source, group: group,
            onMatrix: { index, timed in
                if let report = matrixReport(timed, matrix: matrices[index], plan: plan, config: source.config) {
                    onMatrix(report)
                }
            }
        ).enumerated() {
            guard case .adapted(let result) = timed.start,
                let report = matrixReport(timed, matrix: matrices[index], plan: plan, config: source.config)
            else {
                throw RecipeError.invalidOption(name: "--init", detail: "matrix \(index) has no adapter")
            }
            results.append(result)
            reports.append(report)
        }
        var report = summary(
            reports, results: results, options: options, plan: plan, seconds: Stopwatch.now() - started)
        report.calibration = calibration?.summary
        guard group.isLeader else { return report }
        try writeFolder(
            output, source: source, tokenizerPath: tokenizerPath, options: options, plan: plan,
            results: results, report: report, calibration: calibration?.statistics, writeTokenizer: writeTokenizer)
        return report
    }

    /// The report of one matrix's start (nil for a frozen matrix, which `quantize` never makes).
    static func matrixReport(
        _ timed: StartPlan.Timed, matrix: (layer: Int, module: LinearModule), plan: StartPlan,
        config: LlamaConfig
    ) -> MatrixReport? {
        guard case .adapted(let result) = timed.start else { return nil }
        return MatrixReport(
            name: HuggingFaceNames.modulePath(layer: matrix.layer, matrix.module),
            codebook: plan.spec.codebook(layer: matrix.layer, of: plan.layers).name,
            shape: matrix.module.shape(in: config), plainError: result.plainError, initError: result.error,
            iterationErrors: result.errors, seconds: timed.seconds, activationPlainError: result.activationPlainError,
            activationInitError: result.activationError)
    }

    /// The run's summary from every matrix's report and result.
    static func summary(
        _ reports: [MatrixReport], results: [LoftQ.Result], options: Options, plan: StartPlan,
        seconds: Double
    ) -> Report {
        var codeBits = 0, weights = 0
        for result in results {
            codeBits += Int((result.quantized.bitsPerWeight * Double(result.quantized.count)).rounded())
            weights += result.quantized.count
        }
        let count = Double(reports.count)
        var report = Report(
            matrices: reports, averagePlainError: reports.map(\.plainError).reduce(0, +) / count,
            averageInitError: reports.map(\.initError).reduce(0, +) / count,
            bitsPerWeight: Double(codeBits) / Double(weights), seconds: seconds,
            initialization: options.initialization.rawValue,
            layerCodebooks: (0..<plan.layers).map { plan.spec.codebook(layer: $0, of: plan.layers).name })
        let activation = reports.compactMap(\.activationInitError), plain = reports.compactMap(\.activationPlainError)
        if activation.count == reports.count, plain.count == reports.count {
            report.averageActivationPlainError = plain.reduce(0, +) / count
            report.averageActivationInitError = activation.reduce(0, +) / count
        }
        return report
    }

    /// Writes the folder under a temporary name beside `output`, then renames it: the quantized
    /// model (`QuantizedFolder`'s writer), its config, the tokenizer, the adapter and the report.
    static func writeFolder(
        _ output: URL, source: CheckpointSource, tokenizerPath: String?, options: Options,
        plan: StartPlan, results: [LoftQ.Result], report: Report, calibration: CalibrationStatistics?,
        writeTokenizer: (URL) throws -> Void
    ) throws {
        let config = source.config
        let partial = output.deletingLastPathComponent().appendingPathComponent(
            ".\(output.lastPathComponent).partial-\(getpid())")
        try? FileManager.default.removeItem(at: partial)
        try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
        do {
            var quantized: [String: QuantizedTensor] = [:]
            var adapterTensors: [String: SafeTensor] = [:]
            for (result, matrix) in zip(results, plan.matrices) {
                let (layer, module) = matrix
                let shape = module.shape(in: config)
                quantized[HuggingFaceNames.modulePath(layer: layer, module) + ".weight"] = result.quantized
                adapterTensors[PEFTNames.key(layer: layer, module: module, tensor: "lora_A")] =
                    SafeTensor(result.a, shape: [options.rank, shape[1]])
                adapterTensors[PEFTNames.key(layer: layer, module: module, tensor: "lora_B")] =
                    SafeTensor(result.b, shape: [shape[0], options.rank])
            }
            try QuantizedFolder.writeModel(
                source: source, quantized: quantized, to: partial.appendingPathComponent("model.safetensors"))
            let spec = options.spec
            let quantization = LoftQuantizationConfig(
                method: spec.method, bits: spec.bits, blockSize: spec.blockSize, doubleQuant: spec.doubleQuant,
                layerCodebooks: report.layerCodebooks)
            try QuantizedFolder.writeConfig(
                config, quantization: quantization, to: partial.appendingPathComponent("config.json"))
            try writeTokenizer(partial)
            try calibration?.write(to: partial.appendingPathComponent("calibration.safetensors"))
            if let tokenizerPath {
                let copy = partial.appendingPathComponent("tokenizer.model").path
                try FileManager.default.copyItem(atPath: tokenizerPath, toPath: copy)
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: copy)
            }
            let adapterConfig = AdapterConfig(
                initialization: options.initialization, rank: options.rank, alpha: options.alpha,
                targetModules: LinearModule.allCases, bits: spec.bits, iterations: options.iterations, base: output.path
            )
            try AdapterFiles.write(
                tensors: adapterTensors, config: adapterConfig, to: partial.appendingPathComponent("adapter"))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            try AtomicFile.write(try encoder.encode(report), to: partial.appendingPathComponent("loftq_report.json"))
            try FileManager.default.moveItem(at: partial, to: output)
            AtomicFile.syncDirectory(output.deletingLastPathComponent())
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }
}

extension StartPlan {
    /// The plan of `loft quantize`: every linear a target, its flags' options and seed.
    init(_ options: LoftQuantizer.Options, layers: Int) {
        self.init(
            spec: options.spec, layers: layers, rank: options.rank, alpha: options.alpha,
            iterations: options.iterations, initialization: options.initialization,
            targets: Set(LinearModule.allCases), svd: options.svd, root: RandomState(seed: options.seed))
    }
}
