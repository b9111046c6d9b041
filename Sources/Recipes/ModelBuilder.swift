import Autograd
import Distributed
import Formats
import Foundation
import Llama
import LoRA
import Quantization
import Tokenizers
import Training

/// Builds the model a run config describes: the frozen base (quantized on the fly with LoftQ or
/// QLoRA's init, taken from a `loft quantize` folder, or kept fp32) with LoRA on the target
/// modules, and its tokenizer (checked against the vocabulary by `ModelFiles`).
public enum ModelBuilder {
    /// The built model, its tokenizer, and a per-matrix error summary (when quantized here).
    public struct Built {
        public let model: LlamaModel
        public let tokenizer: any Tokenizer
        /// Mean `‖W − deq(Q) − s·B·A‖/‖W‖` over the quantized targets, and the plain error.
        public let initError: Double?, plainError: Double?
        /// The same per quantized target, in build order (empty when nothing was quantized here).
        public var matrixErrors: [MatrixInitError] = []
        /// What the user should know about the start (an adapter continued on another base).
        public var warnings: [String] = []
    }

    /// The start of one quantized target matrix: its init error and plain quantization error.
    public struct MatrixInitError: Codable, Sendable {
        public let layer: Int, module: String, initError: Double, plainError: Double
    }

    /// A model assembled from a checkpoint, with the start errors of its quantized targets.
    public struct Assembled {
        public let model: LlamaModel
        /// Per quantized target, in model order (empty on an fp32 base).
        public let matrixErrors: [MatrixInitError]
    }

    /// Builds the run's model and tokenizer (`file` names the config in errors). The config is
    /// validated first, whoever made it, and the model's format is resolved once.
    /// With a `group` of several ranks, the quantized start (LoftQ or QLoRA's) is computed once:
    /// each rank takes every N-th matrix, and the results are exchanged.
    public static func build(_ config: RunConfig, file: String, group: ProcessGroup = .single) throws -> Built {
        try ConfigLoader.validate(config, file: file)
        let path = config.model.path
        let format = try ModelFiles.format(of: path, declared: config.model.format)
        if format == .loft {
            let model = try loftFolder(config, file: file)
            try checkWindow(of: model.config, config, file: file)
            let tokenizer = try ModelFiles.tokenizer(
                forModel: path, format: format, explicit: config.model.tokenizer, config: model.config)
            let warnings = try continueFromAdapter(config, file: file, model: model, isLoftFolder: true)
            return Built(model: model, tokenizer: tokenizer, initError: nil, plainError: nil, warnings: warnings)
        }
        let source = try ModelFiles.openCheckpoint(path, format: format)
        let tokenizer = try ModelFiles.tokenizer(
            forModel: path, format: format, explicit: config.model.tokenizer, config: source.config,
            gguf: source as? GGUFCheckpoint)
        if config.quantization == nil && config.lora.initialization.isLoftQ {  // (adapter: fine on an fp32 base)
            throw TrainingError.invalidValue(
                file: file, key: "lora.init",
                detail: "loftq needs a quantized base; use gaussian with quantization: none")
        }
        try checkWindow(of: source.config, config, file: file)
        let calibration = try calibrate(config, source: source, tokenizer: tokenizer)
        let assembled = try assemble(config, source: source, group: group, calibration: calibration)
        let mean: ([Double]) -> Double? = { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) }
        let plainError = mean(assembled.matrixErrors.map(\.plainError))
        if config.lora.initialization == .adapter {
            // The init errors belong to QLoRA's start, which the adapter replaces: only the plain
            // quantization error still describes this model.
            let warnings = try continueFromAdapter(config, file: file, model: assembled.model, isLoftFolder: false)
            return Built(
                model: assembled.model, tokenizer: tokenizer, initError: nil, plainError: plainError,
                warnings: warnings)
        }
        return Built(
            model: assembled.model, tokenizer: tokenizer, initError: mean(assembled.matrixErrors.map(\.initError)),
            plainError: plainError, matrixErrors: assembled.matrixErrors)
    }

    /// The model of `source` as `config`'s quantization and `lora` sections describe it: each
    /// linear quantized with its start (`StartPlan`) or kept fp32 with a gaussian adapter on the
    /// targets. No validation and no tokenizer: what `build` and the benchmarks' (and tests')
    /// random-weight fixtures share.
    public static func assemble(
        _ config: RunConfig, source: CheckpointSource,
        group: ProcessGroup = .single, calibration: CalibrationStatistics? = nil
    ) throws -> Assembled {
        let lora = config.lora
        var plan = config.quantization.map { StartPlan(config, quantization: $0, layers: source.config.layers) }
        plan?.calibration = calibration
        plan?.weightingForm = lora.calibration?.form ?? .exact
        var shared: [String: StartPlan.Start] = [:]
        if let plan, group.size > 1 {
            for (timed, matrix) in zip(try plan.startAll(source: source, group: group), plan.matrices) {
                shared[HuggingFaceNames.modulePath(layer: matrix.layer, matrix.module)] = timed.start
            }
        }
        let root = RandomState(seed: config.training.seed)
        var matrixErrors: [MatrixInitError] = []
        let model = try LlamaModel(checkpoint: source) { layer, module, weight -> LinearLayer in
            let name = HuggingFaceNames.modulePath(layer: layer, module)  // names the RNG stream
            guard let plan else {
                guard lora.targetModules.contains(module) else { return Linear(weight: weight) }
                var rng = root.split("gaussian").split(name)  // (replaced by lora.adapter's factors with init: adapter)
                let (a, b) = LoRALinear.gaussianInit(
                    in: weight.shape[1], out: weight.shape[0], rank: lora.rank, rng: &rng)
                return LoRALinear(
                    base: Linear(weight: weight), a: a, b: b, rank: lora.rank, alpha: lora.alpha,
                    dropout: lora.dropout)
            }
            let start =
                try shared[name] ?? plan.start(layer: layer, module: module, weight: weight.data, shape: weight.shape)
            switch start {
            case .frozen(let quantized):
                return QuantizedLinear(weight: quantized)
            case .adapted(let result):
                matrixErrors.append(
                    MatrixInitError(
                        layer: layer, module: module.rawValue, initError: result.error, plainError: result.plainError))
                return LoRALinear(
                    base: QuantizedLinear(weight: result.quantized), a: result.a, b: result.b,
                    rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout)
            }
        }
        return Assembled(model: model, matrixErrors: matrixErrors)
    }

    /// Refuses sequences longer than the model's sliding window (Loft's attention is plain causal).
    static func checkWindow(of model: LlamaConfig, _ config: RunConfig, file: String) throws {
        guard let window = model.slidingWindow, config.data.maxSeqLen > window else { return }
        throw TrainingError.invalidValue(
            file: file, key: "data.max_seq_len",
            detail: "\(config.data.maxSeqLen) is longer than the model's sliding window of \(window) positions "
                + "(sliding-window attention is not computed; use at most \(window))")
    }

    /// A `loft quantize` folder: its adapter must agree with the `lora` section; it is attached
    /// with the run's dropout.
    static func loftFolder(_ config: RunConfig, file: String) throws -> LlamaModel {
        let folder = URL(fileURLWithPath: config.model.path).appendingPathComponent("adapter")
        try checkAdapter(
            try AdapterFiles.readConfig(folder), matches: config, file: file, whose: "the folder's",
            detail: "must match the adapter of the quantized folder \(config.model.path)")
        let model = try QuantizedFolder.load(config.model.path, withAdapter: false)
        _ = try AdapterFiles.attach(folder, to: model, dropout: config.lora.dropout)
        for block in model.blocks {
            for module in config.lora.targetModules where !(block[module] is LoRALinear) {
                throw TrainingError.invalidValue(
                    file: file, key: "lora.target_modules",
                    detail: "\(module.rawValue) has no adapter in \(config.model.path)")
            }
        }
        return model
    }

    /// Refuses an adapter whose rank, alpha or target modules differ from the `lora` section,
    /// naming every differing key (`whose`: "the folder's", "the adapter's").
    static func checkAdapter(
        _ adapter: AdapterConfig, matches config: RunConfig, file: String, whose: String,
        detail: String
    ) throws {
        let lora = config.lora
        var differing: [String] = []
        if adapter.r != lora.rank { differing.append("lora.rank (\(lora.rank) vs \(whose) \(adapter.r))") }
        if adapter.loraAlpha != lora.alpha {
            differing.append("lora.alpha (\(lora.alpha) vs \(whose) \(adapter.loraAlpha))")
        }
        if Set(AdapterFiles.modules(adapter)) != Set(lora.targetModules) {
            differing.append(
                "lora.target_modules (\(whose): \(adapter.targetModules.sorted().joined(separator: ", ")))")
        }
        if !differing.isEmpty {
            throw TrainingError.invalidValue(file: file, key: differing.joined(separator: ", "), detail: detail)
        }
    }
}

extension StartPlan {
    /// The plan of a run: its quantization, `lora` section and seed (exact or randomized SVD
    /// chosen automatically).
    init(_ config: RunConfig, quantization: RunConfig.QuantizationSection, layers: Int) {
        let lora = config.lora
        self.init(
            spec: quantization.spec, layers: layers, rank: lora.rank, alpha: lora.alpha,
            iterations: lora.loftqIters, initialization: lora.initialization, targets: Set(lora.targetModules),
            svd: nil, root: RandomState(seed: config.training.seed))
    }
}
