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
/// modules, and its tokenizer (checked against the vocabulary by `ModelLoader`).
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

    /// Builds the run's model and tokenizer (`file` names the config in errors). The config is
    /// validated first, whoever made it.
    /// With a `group` of several ranks, the quantized start (LoftQ or QLoRA's) is computed once:
    /// each rank takes every N-th matrix, and the results are exchanged.
    public static func build(_ config: RunConfig, file: String, group: ProcessGroup = .single) throws -> Built {
        try ConfigLoader.validate(config, file: file)
        let path = config.model.path
        if try ModelLoader.format(of: path, declared: config.model.format) == .loft {
            let model = try loftFolder(config, file: file)
            let tokenizer = try ModelLoader.tokenizer(forModel: path, explicit: config.model.tokenizer, config: model.config)
            let warnings = try continueFromAdapter(config, file: file, model: model)
            return Built(model: model, tokenizer: tokenizer, initError: nil, plainError: nil, warnings: warnings)
        }
        let source = try ModelLoader.openCheckpoint(path, format: config.model.format)
        let tokenizer = try ModelLoader.tokenizer(forModel: path, explicit: config.model.tokenizer, config: source.config,
                                                  gguf: source as? GGUFCheckpoint)
        let lora = config.lora
        if config.quantization == nil && lora.initialization.isLoftQ {  // (adapter: fine on an fp32 base)
            throw TrainingError.invalidValue(file: file, key: "lora.init", detail: "loftq needs a quantized base; use gaussian with quantization: none")
        }
        let root = RandomState(seed: config.training.seed)
        let layers = source.config.layers
        var initErrors: [Double] = [], plainErrors: [Double] = [], matrixErrors: [MatrixInitError] = []
        let shared = group.size > 1 && config.quantization != nil ? try sharedStart(config, source: source, group: group) : [:]
        let model = try LlamaModel(checkpoint: source) { layer, module, weight -> LinearLayer in
            let name = HuggingFaceNames.modulePath(layer: layer, module)  // names the RNG stream
            let shape = weight.shape
            let isTarget = lora.targetModules.contains(module)
            guard config.quantization != nil else {
                guard isTarget else { return Linear(weight: weight) }
                var rng = root.split("gaussian").split(name)  // (replaced by lora.adapter's factors with init: adapter)
                let (a, b) = LoRALinear.gaussianInit(in: shape[1], out: shape[0], rank: lora.rank, rng: &rng)
                return LoRALinear(base: Linear(weight: weight), a: a, b: b, rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout)
            }
            let start = try shared[name] ?? quantizedStart(config, layer: layer, module: module, weight: weight.data, shape: shape,
                                                            layers: layers, root: root)
            let result: LoftQ.Result
            switch start {
            case .frozen(let quantized): return QuantizedLinear(weight: quantized)
            case .adapted(let adapted): result = adapted
            }
            initErrors.append(result.error)
            plainErrors.append(result.plainError)
            matrixErrors.append(MatrixInitError(layer: layer, module: module.rawValue, initError: result.error, plainError: result.plainError))
            return LoRALinear(base: QuantizedLinear(weight: result.quantized), a: result.a, b: result.b,
                              rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout)
        }
        let mean: ([Double]) -> Double? = { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) }
        if lora.initialization == .adapter {
            // The errors above belong to QLoRA's start, which the adapter replaces: only the plain
            // quantization error still describes this model.
            let warnings = try continueFromAdapter(config, file: file, model: model)
            return Built(model: model, tokenizer: tokenizer, initError: nil, plainError: mean(plainErrors), warnings: warnings)
        }
        return Built(model: model, tokenizer: tokenizer, initError: mean(initErrors), plainError: mean(plainErrors),
                     matrixErrors: matrixErrors)
    }

    /// How one linear of a quantized run starts.
    enum QuantizedStart {
        /// Not a target: the quantized weight alone.
        case frozen(QuantizedTensor)
        /// A target: quantized base and adapter (LoftQ or QLoRA's init), with its errors.
        case adapted(LoftQ.Result)
    }

    /// The start of linear `module` of `layer` (its RNG stream is named by the module path, so the
    /// result does not depend on which rank computes it).
    static func quantizedStart(_ config: RunConfig, layer: Int, module: LinearModule, weight: [Float], shape: [Int],
                               layers: Int, root: RandomState) throws -> QuantizedStart {
        let lora = config.lora
        guard let quantization = config.quantization else { preconditionFailure("quantizedStart needs a quantization section") }
        let options = LoftQ.Options(codebook: quantization.spec.codebook(layer: layer, of: layers),
                                    blockSize: quantization.blockSize, doubleQuant: quantization.doubleQuant,
                                    rank: lora.rank, alpha: lora.alpha, iterations: lora.loftqIters)
        guard lora.targetModules.contains(module) else {
            return .frozen(QuantizedTensor(weight, shape: shape, codebook: options.codebook, blockSize: options.blockSize,
                                           doubleQuant: options.doubleQuant))
        }
        return .adapted(try lora.initialization.start(weight: weight, shape: shape, options: options, layer: layer, module: module,
                                                      root: root))
    }

    /// A `loft quantize` folder: its adapter must agree with the `lora` section; it is attached
    /// with the run's dropout.
    static func loftFolder(_ config: RunConfig, file: String) throws -> LlamaModel {
        let folder = URL(fileURLWithPath: config.model.path).appendingPathComponent("adapter")
        try checkAdapter(try AdapterFiles.readConfig(folder), matches: config, file: file, whose: "the folder's",
                         detail: "must match the adapter of the quantized folder \(config.model.path)")
        let model = try QuantizedFolder.load(config.model.path, withAdapter: false)
        _ = try AdapterFiles.attach(folder, to: model, dropout: config.lora.dropout)
        for block in model.blocks {
            for module in config.lora.targetModules where !(block[module] is LoRALinear) {
                throw TrainingError.invalidValue(file: file, key: "lora.target_modules",
                                                 detail: "\(module.rawValue) has no adapter in \(config.model.path)")
            }
        }
        return model
    }

    /// Refuses an adapter whose rank, alpha or target modules differ from the `lora` section,
    /// naming every differing key (`whose`: "the folder's", "the adapter's").
    static func checkAdapter(_ adapter: AdapterConfig, matches config: RunConfig, file: String, whose: String,
                             detail: String) throws {
        var differing: [String] = []
        if adapter.r != config.lora.rank { differing.append("lora.rank (\(config.lora.rank) vs \(whose) \(adapter.r))") }
        if adapter.loraAlpha != config.lora.alpha { differing.append("lora.alpha (\(config.lora.alpha) vs \(whose) \(adapter.loraAlpha))") }
        if Set(AdapterFiles.modules(adapter)) != Set(config.lora.targetModules) {
            differing.append("lora.target_modules (\(whose): \(adapter.targetModules.sorted().joined(separator: ", ")))")
        }
        if !differing.isEmpty { throw TrainingError.invalidValue(file: file, key: differing.joined(separator: ", "), detail: detail) }
    }
}

extension LoRAInitialization {
    /// The start of one linear (`layer`, `module`) — its quantized base and adapter — with its
    /// random stream split from `root` by the initialization and the module path: `loft train` and
    /// `loft quantize` both start a matrix here, so their streams cannot drift apart, and the
    /// result does not depend on which rank computes it.
    func start(weight: [Float], shape: [Int], options: LoftQ.Options, layer: Int, module: LinearModule,
               root: RandomState) throws -> LoftQ.Result {
        var rng = root.split(rawValue).split(HuggingFaceNames.modulePath(layer: layer, module))
        return try run(weight: weight, shape: shape, options: options, rng: &rng)
    }
}
