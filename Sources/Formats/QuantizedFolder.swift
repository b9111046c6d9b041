import Autograd
import Foundation
import Llama
import LoRA
import Quantization

/// The `quantization_config` entry of a `loft quantize` folder's `config.json`.
public struct LoftQuantizationConfig: Codable, Equatable, Sendable {
    /// Always "loft": marks the folder as Loft's packed format.
    public var quantMethod = "loft"
    public var method: QuantizationSpec.Method
    public var bits: Double
    public var blockSize: Int
    public var doubleQuant: Bool
    /// The codebook of each decoder layer (mixed precision puts NF4 first, NF2 after).
    public var layerCodebooks: [String]

    /// An entry from its values.
    public init(method: QuantizationSpec.Method, bits: Double, blockSize: Int, doubleQuant: Bool, layerCodebooks: [String]) {
        (self.method, self.bits, self.blockSize, self.doubleQuant, self.layerCodebooks) = (method, bits, blockSize, doubleQuant, layerCodebooks)
    }

    enum CodingKeys: String, CodingKey {
        case quantMethod = "quant_method", method, bits, blockSize = "block_size", doubleQuant = "double_quant"
        case layerCodebooks = "layer_codebooks"
    }
}

/// A folder written by `loft quantize`: `config.json` (with `quantization_config`),
/// `model.safetensors` (packed U8 codes and F32 absmax per quantized linear, F32 for the rest),
/// `tokenizer.model`, `adapter/` (the initial adapters, PEFT format) and `loftq_report.json`.
public enum QuantizedFolder {
    /// The safetensors tensors holding one quantized weight `name` (`....q_proj.weight`).
    public static func tensors(of weight: QuantizedTensor, name: String) -> [(String, SafeTensor)] {
        var result: [(String, SafeTensor)] = [(name + ".codes", SafeTensor(dtype: .U8, shape: [weight.codes.bytes.count], bytes: Data(weight.codes.bytes)))]
        switch weight.scales {
        case .plain(let absmax):
            result.append((name + ".absmax", SafeTensor(absmax, shape: [absmax.count])))
        case .doubleQuantized(let scales):
            result.append((name + ".absmax.codes", SafeTensor(dtype: .U8, shape: [scales.codes.count], bytes: Data(scales.codes))))
            result.append((name + ".absmax.scales", SafeTensor(scales.absmax, shape: [scales.absmax.count])))
            result.append((name + ".absmax.offset", SafeTensor([scales.offset], shape: [1])))
        }
        return result
    }

    /// The `quantization_config` of the folder at `path`, or nil when it is not a Loft folder.
    public static func quantizationConfig(_ path: String) -> LoftQuantizationConfig? {
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let entry = json["quantization_config"] as? [String: Any], entry["quant_method"] as? String == "loft",
              let entryData = try? JSONSerialization.data(withJSONObject: entry) else { return nil }
        return try? JSONDecoder().decode(LoftQuantizationConfig.self, from: entryData)
    }

    /// Loads the quantized base of the folder (frozen `QuantizedLinear` layers, fp32 rest) and,
    /// when `withAdapter`, attaches `adapter/`.
    public static func load(_ path: String, withAdapter: Bool = true) throws -> LlamaModel {
        let folder = URL(fileURLWithPath: path)
        let configPath = folder.appendingPathComponent("config.json").path
        let config = try LlamaConfig(huggingFaceConfigAt: configPath)
        guard let quantization = quantizationConfig(path) else {
            throw FormatError.invalidConfig(path: configPath, key: "quantization_config", detail: "missing or not a loft quantization entry")
        }
        let spec = QuantizationSpec(method: quantization.method, bits: quantization.bits, blockSize: quantization.blockSize,
                                    doubleQuant: quantization.doubleQuant)
        if let problem = spec.problem {
            throw FormatError.invalidConfig(path: configPath, key: "quantization_config", detail: problem)
        }
        guard quantization.layerCodebooks.count == config.layers else {
            throw FormatError.invalidConfig(path: configPath, key: "quantization_config.layer_codebooks",
                                            detail: "\(quantization.layerCodebooks.count) entries for \(config.layers) layers")
        }
        let file = try SafeTensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
        func tensor(_ tensor: LlamaTensor) throws -> Tensor {
            let shape = tensor.shape(in: config)
            return Tensor(try file.floats(HuggingFaceNames.name(of: tensor), shape: shape), shape: shape)
        }
        func quantized(_ name: String, shape: [Int], codebook: Codebook) throws -> QuantizedTensor {
            let count = shape.product
            let blocks = (count + quantization.blockSize - 1) / quantization.blockSize
            let codes = PackedCodes(bytes: try file.bytes(name + ".codes", count: (count * codebook.bits + 7) / 8), bits: codebook.bits, count: count)
            let scales: BlockScales
            if quantization.doubleQuant {
                let secondLevel = (blocks + DoubleQuantizedScales.blockSize - 1) / DoubleQuantizedScales.blockSize
                scales = .doubleQuantized(DoubleQuantizedScales(codes: try file.bytes(name + ".absmax.codes", count: blocks),
                                                                absmax: try file.floats(name + ".absmax.scales", shape: [secondLevel]),
                                                                offset: try file.floats(name + ".absmax.offset", shape: [1])[0]))
            } else {
                scales = .plain(try file.floats(name + ".absmax", shape: [blocks]))
            }
            return QuantizedTensor(shape: shape, codebook: codebook, blockSize: quantization.blockSize, codes: codes, scales: scales)
        }
        var blocks: [TransformerBlock] = []
        for layer in 0..<config.layers {
            guard let codebook = Codebook.named(quantization.layerCodebooks[layer]) else {
                throw FormatError.invalidConfig(path: configPath, key: "quantization_config.layer_codebooks",
                                                detail: "unknown codebook \(quantization.layerCodebooks[layer])")
            }
            func linear(_ module: LinearModule) throws -> LinearLayer {
                QuantizedLinear(weight: try quantized(HuggingFaceNames.name(of: .linear(layer: layer, module)),
                                                      shape: module.shape(in: config), codebook: codebook))
            }
            blocks.append(TransformerBlock(
                attentionNorm: try tensor(.attentionNorm(layer: layer)), mlpNorm: try tensor(.mlpNorm(layer: layer)),
                q: try linear(.q), k: try linear(.k), v: try linear(.v), o: try linear(.o),
                gate: try linear(.gate), up: try linear(.up), down: try linear(.down)))
        }
        let embedding = try tensor(.embedding)
        let model = LlamaModel(config: config, embedding: embedding, blocks: blocks, finalNorm: try tensor(.finalNorm),
                               outputWeight: config.tiedEmbeddings ? embedding : try tensor(.output))
        let adapter = folder.appendingPathComponent("adapter")
        if withAdapter, FileManager.default.fileExists(atPath: adapter.appendingPathComponent("adapter_config.json").path) {
            try AdapterFiles.attach(adapter, to: model)
        }
        return model
    }
}
