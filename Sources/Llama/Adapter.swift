import Autograd
import Foundation
import LoRA

/// PEFT's `adapter_config.json` for a LoRA adapter (the fields Loft reads and writes).
public struct AdapterConfig: Codable, Equatable, Sendable {
    public var peftType = "LORA"
    public var r: Int
    public var loraAlpha: Float
    public var loraDropout: Float = 0
    public var targetModules: [String]
    /// `true` (PEFT's Kaiming/zero init), `"gaussian"` or `"loftq"`, stored as a string or bool.
    public var initLoraWeights: InitWeights = .string("loftq")
    public var loftqConfig: [String: Int] = [:]
    public var baseModelNameOrPath: String?
    public var bias = "none"
    public var fanInFanOut = false
    public var inferenceMode = true
    public var taskType: String? = "CAUSAL_LM"
    public var useRslora = false
    public var useDora = false

    /// `init_lora_weights` is a bool or a string in PEFT.
    public enum InitWeights: Codable, Equatable, Sendable {
        case bool(Bool), string(String)
        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) { self = .bool(flag) } else { self = .string(try container.decode(String.self)) }
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
    }

    /// A config for rank `r`, `alpha`, the target modules and the base path.
    public init(r: Int, loraAlpha: Float, loraDropout: Float = 0, targetModules: [String],
                initLoraWeights: InitWeights, loftqConfig: [String: Int] = [:], baseModelNameOrPath: String?) {
        (self.r, self.loraAlpha, self.loraDropout, self.targetModules) = (r, loraAlpha, loraDropout, targetModules)
        (self.initLoraWeights, self.loftqConfig, self.baseModelNameOrPath) = (initLoraWeights, loftqConfig, baseModelNameOrPath)
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
    }
}

/// Reading and writing LoRA adapters in PEFT's format (`adapter_model.safetensors` +
/// `adapter_config.json`), and attaching them to a model.
public enum AdapterFiles {
    /// The PEFT key of a LoRA tensor: `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`.
    public static func key(layer: Int, module: String, tensor: String) -> String {
        "base_model.model." + LlamaTensorNames.linear(module, layer: layer) + ".\(tensor).weight"
    }

    /// Writes the adapters of `model` (every `LoRALinear`) and `config` into `folder` (created),
    /// each file atomically.
    public static func write(model: LlamaModel, config: AdapterConfig, to folder: URL) throws {
        var tensors: [String: SafeTensor] = [:]
        for (layer, block) in model.blocks.enumerated() {
            for module in LlamaTensorNames.linearModules {
                guard let lora = block[module] as? LoRALinear else { continue }
                tensors[key(layer: layer, module: module, tensor: "lora_A")] = SafeTensor(lora.loraA.data, shape: lora.loraA.shape)
                tensors[key(layer: layer, module: module, tensor: "lora_B")] = SafeTensor(lora.loraB.data, shape: lora.loraB.shape)
            }
        }
        try write(tensors: tensors, config: config, to: folder)
    }

    /// Writes adapter tensors (PEFT keys) and `config` into `folder` (created), each file atomically.
    public static func write(tensors: [String: SafeTensor], config: AdapterConfig, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try SafeTensorsFile.write(tensors, metadata: ["format": "pt"], to: folder.appendingPathComponent("adapter_model.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: folder.appendingPathComponent("adapter_config.json"))
    }

    /// Reads the config of the adapter in `folder`.
    public static func readConfig(_ folder: URL) throws -> AdapterConfig {
        let path = folder.appendingPathComponent("adapter_config.json").path
        guard let data = FileManager.default.contents(atPath: path) else { throw LlamaError.fileNotFound(path: path) }
        do {
            return try JSONDecoder().decode(AdapterConfig.self, from: data)
        } catch {
            throw LlamaError.invalidConfig(path: path, key: "(adapter)", detail: "\(error)")
        }
    }

    /// Wraps the target linears of `model` with the adapter in `folder` (PEFT files). Every
    /// tensor must be present with its shape, and no other tensor may be there.
    public static func attach(_ folder: URL, to model: LlamaModel) throws {
        let config = try readConfig(folder)
        guard config.peftType == "LORA", !config.useDora, !config.useRslora, !config.fanInFanOut else {
            throw LlamaError.invalidConfig(path: folder.appendingPathComponent("adapter_config.json").path, key: "peft_type",
                                           detail: "only plain LoRA adapters are supported")
        }
        let file = try SafeTensorsFile(path: folder.appendingPathComponent("adapter_model.safetensors").path)
        var used = Set<String>()
        for (layer, block) in model.blocks.enumerated() {
            for module in config.targetModules {
                guard LlamaTensorNames.linearModules.contains(module) else {
                    throw LlamaError.invalidConfig(path: folder.path, key: "target_modules", detail: "unknown module \(module)")
                }
                let base = block[module]
                let aKey = key(layer: layer, module: module, tensor: "lora_A"), bKey = key(layer: layer, module: module, tensor: "lora_B")
                for (name, shape) in [(aKey, [config.r, base.inFeatures]), (bKey, [base.outFeatures, config.r])] {
                    guard let entry = file.entries[name] else { throw LlamaError.missingTensor(name: name, source: file.path) }
                    guard entry.shape == shape else {
                        throw LlamaError.shapeMismatch(name: name, expected: shape, actual: entry.shape, source: file.path)
                    }
                    used.insert(name)
                }
                let frozen = (base as? LoRALinear)?.base ?? base
                block[module] = LoRALinear(base: frozen, a: try file.floats(aKey), b: try file.floats(bKey), rank: config.r,
                                           alpha: config.loraAlpha, dropout: config.loraDropout)
            }
        }
        if let extra = file.names.first(where: { !used.contains($0) }) {
            throw LlamaError.unexpectedTensor(name: extra, source: file.path)
        }
    }
}
