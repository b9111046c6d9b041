import Autograd
import Foundation
import Llama
import LoRA
import Support

/// PEFT's `adapter_config.json` for a LoRA adapter (the fields Loft reads and writes).
public struct AdapterConfig: Codable, Equatable, Sendable {
    public var peftType = "LORA"
    public var r: Int
    public var loraAlpha: Float
    public var loraDropout: Float = 0
    public var targetModules: [String]
    /// `true` (PEFT's Kaiming/zero init), `"gaussian"` or `"loftq"`, stored as a string or bool.
    public var initLoraWeights: InitWeights = .bool(true)
    public var loftqConfig: [String: Int] = [:]
    /// How Loft made the adapter (`loft.init`, `loft.bits`, `loft.loftq_iters`, `loft.base`): kept
    /// in the safetensors metadata, where PEFT does not look, so that the JSON stays PEFT's own.
    public var provenance: [String: String] = [:]
    public var baseModelNameOrPath: String?
    public var bias = "none"
    public var fanInFanOut = false
    public var inferenceMode = true
    public var taskType: String? = "CAUSAL_LM"
    /// rsLoRA: scaling `alpha / √r` instead of `alpha / r`.
    public var useRslora = false
    /// Per-module rank and alpha, by pattern (PEFT: the key matches `(.*\.)?(PATTERN)$`).
    public var rankPattern: [String: Int] = [:], alphaPattern: [String: Float] = [:]
    /// Only these layers carry adapters (nil: all).
    public var layersToTransform: [Int]?
    /// Modules trained whole beside the adapter (not supported: refused by name).
    public var modulesToSave: [String]?
    public var useDora = false

    /// `init_lora_weights` is a bool or a string in PEFT.
    public enum InitWeights: Codable, Equatable, Sendable {
        case bool(Bool), string(String)
        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .bool(flag)
            } else {
                self = .string(try container.decode(String.self))
            }
        }
        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .bool(let flag): try container.encode(flag)
            case .string(let text): try container.encode(text)
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", r, loraAlpha = "lora_alpha", loraDropout = "lora_dropout"
        case targetModules = "target_modules", initLoraWeights = "init_lora_weights", loftqConfig = "loftq_config"
        case baseModelNameOrPath = "base_model_name_or_path", bias, fanInFanOut = "fan_in_fan_out"
        case inferenceMode = "inference_mode", taskType = "task_type", useRslora = "use_rslora", useDora = "use_dora"
        case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern", layersToTransform = "layers_to_transform"
        case modulesToSave = "modules_to_save"
    }

    /// A config for rank `r`, `alpha`, the target modules and the base path.
    public init(
        r: Int, loraAlpha: Float, loraDropout: Float = 0, targetModules: [String],
        initLoraWeights: InitWeights, loftqConfig: [String: Int] = [:], baseModelNameOrPath: String?
    ) {
        self.r = r
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        self.targetModules = targetModules
        (self.initLoraWeights, self.loftqConfig, self.baseModelNameOrPath) = (
            initLoraWeights, loftqConfig, baseModelNameOrPath
        )
    }

    /// Decodes with PEFT's many extra keys ignored, as PEFT itself does for unknown ones.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        r = try c.decode(Int.self, forKey: .r)
        loraAlpha = try c.decode(Float.self, forKey: .loraAlpha)
        loraDropout = try c.decodeIfPresent(Float.self, forKey: .loraDropout) ?? 0
        targetModules = try c.decode([String].self, forKey: .targetModules)
        initLoraWeights = try c.decodeIfPresent(InitWeights.self, forKey: .initLoraWeights) ?? .bool(true)
        loftqConfig = (try? c.decodeIfPresent([String: Int].self, forKey: .loftqConfig)) ?? [:]
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        fanInFanOut = try c.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        inferenceMode = try c.decodeIfPresent(Bool.self, forKey: .inferenceMode) ?? true
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        useRslora = try c.decodeIfPresent(Bool.self, forKey: .useRslora) ?? false
        useDora = try c.decodeIfPresent(Bool.self, forKey: .useDora) ?? false
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern) ?? [:]
        alphaPattern = try c.decodeIfPresent([String: Float].self, forKey: .alphaPattern) ?? [:]
        if let single = try? c.decodeIfPresent(Int.self, forKey: .layersToTransform) {
            layersToTransform = [single]
        } else {
            layersToTransform = try c.decodeIfPresent([Int].self, forKey: .layersToTransform)
        }
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
    }

    /// The rank and the LoRALinear alpha (`scaling · rank`) of the module at `path`
    /// (`model.layers.3.self_attn.q_proj`): the first matching pattern in name order, else `r` and
    /// `lora_alpha`; rsLoRA's `alpha / √r` scaling becomes an alpha of `alpha · √r`.
    /// reference: peft/utils/other.py get_pattern_key; peft/tuners/lora/layer.py (use_rslora)
    public func rankAndAlpha(modulePath path: String) -> (rank: Int, alpha: Float) {
        func matching<T>(_ patterns: [String: T]) -> T? {
            for key in patterns.keys.sorted() {
                if path == key || path.range(of: "^(.*\\.)?(\(key))$", options: .regularExpression) != nil {
                    return patterns[key]
                }
            }
            return nil
        }
        let rank = matching(rankPattern) ?? r
        let alpha = matching(alphaPattern) ?? loraAlpha
        return (rank, useRslora ? alpha * Float(rank).squareRoot() : alpha)
    }
}

extension AdapterConfig {
    /// PEFT's config for adapters started by `initialization` (`bits` nil: no quantization).
    /// `init_lora_weights` is always `true`: the tensors are the adapter, and PEFT must load them
    /// as they are (with `"loftq"` it would re-run its own LoftQ, replacing the base's values). How
    /// Loft started them goes into `provenance`; the base path is made absolute, so it resolves.
    public init(
        initialization: LoRAInitialization, rank: Int, alpha: Float, dropout: Float = 0,
        targetModules: [LinearModule], bits: Double?, iterations: Int, base: String
    ) {
        let absolute = URL(fileURLWithPath: base).standardizedFileURL.path
        self.init(
            r: rank, loraAlpha: alpha, loraDropout: dropout, targetModules: targetModules.map(\.rawValue).sorted(),
            initLoraWeights: .bool(true), baseModelNameOrPath: absolute)
        provenance = [
            "loft.init": initialization.rawValue, "loft.bits": bits.map { "\($0)" } ?? "none",
            "loft.loftq_iters": "\(iterations)", "loft.base": absolute,
        ]
    }

    /// Whether Loft started this adapter from LoftQ on its own quantized base (which only Loft,
    /// or a `loft export --backbone` folder, holds).
    public var isLoftQOnLoftBase: Bool {
        (provenance["loft.init"].flatMap(LoRAInitialization.init(rawValue:))?.isLoftQ ?? false)
            && provenance["loft.bits"] != "none"
    }
}

/// Reading and writing LoRA adapters in PEFT's format (`adapter_model.safetensors` +
/// `adapter_config.json`), and attaching them to a model.
public enum AdapterFiles {
    /// Writes the adapters of `model` (every `LoRALinear`) and `config` into `folder` (created),
    /// each file atomically.
    public static func write(model: LlamaModel, config: AdapterConfig, to folder: URL) throws {
        var tensors: [String: SafeTensor] = [:]
        for (id, tensor) in model.trainableParameters {
            tensors[PEFTNames.key(id)] = SafeTensor(tensor.data, shape: tensor.shape)
        }
        try write(tensors: tensors, config: config, to: folder)
    }

    /// Writes adapter tensors (PEFT keys) and `config` into `folder` (created), each file atomically.
    public static func write(tensors: [String: SafeTensor], config: AdapterConfig, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try SafeTensorsFile.write(
            tensors, metadata: config.provenance.merging(["format": "pt"]) { $1 },
            to: folder.appendingPathComponent("adapter_model.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: folder.appendingPathComponent("adapter_config.json"))
    }

    /// Reads and checks the config of the adapter in `folder`: plain LoRA, rank ≥ 1, a finite
    /// alpha > 0, dropout in [0, 1), known target modules.
    public static func readConfig(_ folder: URL) throws -> AdapterConfig {
        let path = folder.appendingPathComponent("adapter_config.json").path
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError.fileNotFound(path: path) }
        let config: AdapterConfig
        switch JSONText.decode(AdapterConfig.self, from: data) {
        case .success(let decoded): config = decoded
        case .failure(let problem): throw FormatError.invalidConfig(path: path, key: "(file)", detail: problem.detail)
        }
        guard config.peftType == "LORA" else {
            throw FormatError.invalidConfig(
                path: path, key: "peft_type", detail: "'\(config.peftType)'; only LoRA adapters are supported")
        }
        for (key, refused, what) in [
            ("use_dora", config.useDora, "DoRA adapters are not supported"),
            ("fan_in_fan_out", config.fanInFanOut, "transposed (Conv1D) weights are not supported"),
            (
                "modules_to_save", !(config.modulesToSave ?? []).isEmpty,
                "whole modules saved beside the adapter ("
                    + (config.modulesToSave ?? []).joined(separator: ", ") + ") are not supported"
            ),
            ("bias", config.bias != "none", "'\(config.bias)': trained biases are not supported"),
        ] where refused {
            throw FormatError.invalidConfig(path: path, key: key, detail: what)
        }
        for (pattern, rank) in config.rankPattern where rank < 1 {
            throw FormatError.invalidConfig(
                path: path, key: "rank_pattern.\(pattern)", detail: "\(rank); expected a rank ≥ 1")
        }
        for (pattern, alpha) in config.alphaPattern where !(alpha > 0 && alpha.isFinite) {
            throw FormatError.invalidConfig(
                path: path, key: "alpha_pattern.\(pattern)", detail: "\(alpha); expected a finite value > 0")
        }
        guard config.r >= 1 else {
            throw FormatError.invalidConfig(path: path, key: "r", detail: "\(config.r); expected a rank ≥ 1")
        }
        guard config.loraAlpha > 0, config.loraAlpha.isFinite else {
            throw FormatError.invalidConfig(
                path: path, key: "lora_alpha", detail: "\(config.loraAlpha); expected a finite value > 0")
        }
        guard config.loraDropout >= 0, config.loraDropout < 1 else {
            throw FormatError.invalidConfig(
                path: path, key: "lora_dropout", detail: "\(config.loraDropout); expected a value in [0, 1)")
        }
        if let unknown = config.targetModules.first(where: {
            LinearModule(rawValue: $0) == nil && fusedMembers($0) == nil
        }) {
            throw FormatError.invalidConfig(path: path, key: "target_modules", detail: "unknown module \(unknown)")
        }
        return config
    }

    /// The target modules of a checked config.
    public static func modules(_ config: AdapterConfig) -> [LinearModule] {
        config.targetModules.flatMap { name in LinearModule(rawValue: name).map { [$0] } ?? fusedMembers(name) ?? [] }
    }

    /// Wraps the target linears of `model` with the adapter in `folder` (PEFT files). Every
    /// tensor must be present with its shape, and no other tensor may be there.
    /// The adapters' dropout is the file's `lora_dropout` unless `dropout` is given (a run that
    /// continues training from the adapter uses its own).
    /// Returns the adapter's config, with the provenance Loft wrote (empty for other adapters).
    @discardableResult
    public static func attach(_ folder: URL, to model: LlamaModel, dropout: Float? = nil) throws -> AdapterConfig {
        var config = try readConfig(folder)
        let file = try SafeTensorsFile(path: folder.appendingPathComponent("adapter_model.safetensors").path)
        config.provenance = file.metadata.filter { $0.key.hasPrefix("loft.") }
        var used = Set<String>()
        for (layer, block) in model.blocks.enumerated() where config.layersToTransform?.contains(layer) ?? true {
            for module in modules(config) {
                let base = block[module]
                // A stacked module (Phi-3's qkv_proj) holds the adapter of its group: the whole A,
                // and this member's rows of B.
                var path = HuggingFaceNames.modulePath(layer: layer, module)
                var rows: Range<Int>? = nil
                var outFeatures = base.outFeatures
                if let group = model.config.family.fusedGroup(of: module),
                    !file.names.contains(PEFTNames.key(layer: layer, module: module, tensor: "lora_A"))
                {
                    path = HuggingFaceNames.fusedModulePath(layer: layer, group)
                    rows = module.rows(in: group, config: model.config)
                    outFeatures = group.map { $0.shape(in: model.config)[0] }.reduce(0, +)
                }
                let (rank, alpha) = config.rankAndAlpha(modulePath: path)
                let aKey = "base_model.model.\(path).lora_A.weight"
                let bKey = "base_model.model.\(path).lora_B.weight"
                let a = try file.floats(aKey, shape: [rank, base.inFeatures])
                var b = try file.floats(bKey, shape: [outFeatures, rank])
                if let rows { b = Array(b[(rows.lowerBound * rank)..<(rows.upperBound * rank)]) }
                used.formUnion([aKey, bKey])
                let frozen = (base as? LoRALinear)?.base ?? base
                block[module] = LoRALinear(
                    base: frozen, a: a, b: b, rank: rank, alpha: alpha, dropout: dropout ?? config.loraDropout)
            }
        }
        if let extra = file.names.first(where: { !used.contains($0) }) {
            throw LlamaError.unexpectedTensor(name: extra, source: file.path)
        }
        return config
    }
}
