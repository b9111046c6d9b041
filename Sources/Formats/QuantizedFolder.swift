import Autograd
import Foundation
import Llama
import LoRA
import Quantization
import Support

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
    public init(
        method: QuantizationSpec.Method, bits: Double, blockSize: Int, doubleQuant: Bool, layerCodebooks: [String]
    ) {
        self.method = method
        self.bits = bits
        self.blockSize = blockSize
        self.doubleQuant = doubleQuant
        self.layerCodebooks = layerCodebooks
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
    /// The `quantization_config` of the folder at `path`, or nil when it is not a Loft folder.
    public static func quantizationConfig(_ path: String) -> LoftQuantizationConfig? {
        try? readQuantizationConfig((path as NSString).appendingPathComponent("config.json"))
    }

    /// The `quantization_config` of `config.json` at `configPath`: an error names the file and
    /// the key when it is missing, not Loft's, or malformed.
    public static func readQuantizationConfig(_ configPath: String) throws -> LoftQuantizationConfig {
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw FormatError.fileNotFound(path: configPath)
        }
        let json: [String: Any]
        switch JSONText.object(data) {
        case .success(let object): json = object
        case .failure(let problem):
            throw FormatError.invalidConfig(path: configPath, key: "(file)", detail: problem.detail)
        }
        guard let entry = json["quantization_config"] as? [String: Any], entry["quant_method"] as? String == "loft"
        else {
            throw FormatError.invalidConfig(
                path: configPath, key: "quantization_config", detail: "missing or not a loft quantization entry")
        }
        do {
            return try JSONDecoder().decode(
                LoftQuantizationConfig.self, from: try JSONSerialization.data(withJSONObject: entry))
        } catch let error as DecodingError {
            let key = error.keyPath.isEmpty ? "quantization_config" : "quantization_config.\(error.keyPath)"
            throw FormatError.invalidConfig(path: configPath, key: key, detail: "expected \(error.expectation)")
        }
    }

    /// Loads the quantized base of the folder (frozen `QuantizedLinear` layers, fp32 rest) through
    /// `LlamaModel(checkpoint:)` and, when `withAdapter`, attaches `adapter/`.
    public static func load(_ path: String, withAdapter: Bool = true) throws -> LlamaModel {
        let model = try LlamaModel(checkpoint: try QuantizedFolderSource(folder: path))
        let adapter = URL(fileURLWithPath: path).appendingPathComponent("adapter")
        if withAdapter,
            FileManager.default.fileExists(atPath: adapter.appendingPathComponent("adapter_config.json").path)
        {
            try AdapterFiles.attach(adapter, to: model)
        }
        return model
    }
}
