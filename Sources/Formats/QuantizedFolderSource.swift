import Foundation
import Llama
import Quantization
import Support

/// A `loft quantize` folder as a checkpoint source, so that `LlamaModel(checkpoint:)` builds it as
/// it builds every other format (the same validation: every tensor present with its shape, no
/// unexpected one, every value finite). The norms and embeddings are fp32 tensors; each decoder
/// linear is handed packed (`quantizedLinear`), or dequantized when read as floats.
public final class QuantizedFolderSource: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    /// The folder's `quantization_config`.
    public let quantization: LoftQuantizationConfig
    private let file: SafeTensorsFile
    private let codebooks: [Codebook]

    /// Opens the folder at `path`: `config.json` (with a valid `quantization_config`) and the
    /// header of `model.safetensors`.
    public init(folder path: String) throws {
        let folder = URL(fileURLWithPath: path)
        let configPath = folder.appendingPathComponent("config.json").path
        sourceDescription = path
        config = try LlamaConfig(huggingFaceConfigAt: configPath)
        quantization = try QuantizedFolder.readQuantizationConfig(configPath)
        let spec = QuantizationSpec(
            method: quantization.method, bits: quantization.bits, blockSize: quantization.blockSize,
            doubleQuant: quantization.doubleQuant)
        if let problem = spec.problem {
            throw FormatError.invalidConfig(path: configPath, key: "quantization_config", detail: problem)
        }
        guard quantization.layerCodebooks.count == config.layers else {
            throw FormatError.invalidConfig(
                path: configPath, key: "quantization_config.layer_codebooks",
                detail: "\(quantization.layerCodebooks.count) entries for \(config.layers) layers")
        }
        codebooks = try quantization.layerCodebooks.map { name in
            guard let codebook = Codebook.named(name) else {
                throw FormatError.invalidConfig(
                    path: configPath, key: "quantization_config.layer_codebooks",
                    detail: "unknown codebook \(name)")
            }
            return codebook
        }
        file = try SafeTensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
    }

    public func name(of tensor: LlamaTensor) -> String { HuggingFaceNames.name(of: tensor) }

    /// A linear's logical shape [out, in] when its codes are stored; any other tensor's stored shape.
    public func shape(of tensor: LlamaTensor) -> [Int]? {
        if case .linear = tensor {
            return file.entries[name(of: tensor) + ".codes"] != nil ? tensor.shape(in: config) : nil
        }
        return file.entries[name(of: tensor)]?.shape
    }

    public func floats(_ tensor: LlamaTensor) throws -> [Float] {
        if case .linear(let layer, let module) = tensor {
            return try packedLinear(layer: layer, module: module).dequantized()
        }
        return try file.floats(name(of: tensor))
    }

    public func quantizedLinear(layer: Int, module: LinearModule) throws -> QuantizedTensor? {
        try packedLinear(layer: layer, module: module)
    }

    /// The packed weight of one linear: codes of the layer's codebook, absmax per block (plain or
    /// double-quantized), every scale finite.
    private func packedLinear(layer: Int, module: LinearModule) throws -> QuantizedTensor {
        let tensor = LlamaTensor.linear(layer: layer, module)
        let name = name(of: tensor), shape = try checkedShape(tensor), codebook = codebooks[layer]
        let (count, blockSize) = (shape.product, quantization.blockSize)
        let blocks = (count + blockSize - 1) / blockSize
        let codes = PackedCodes(
            bytes: try file.bytes(name + ".codes", count: (count * codebook.bits + 7) / 8), bits: codebook.bits,
            count: count)
        func finite(_ values: [Float], _ part: String) throws -> [Float] {
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                throw LlamaError.nonFiniteWeight(
                    name: name + part, index: index, value: values[index], source: sourceDescription)
            }
            return values
        }
        let scales: BlockScales
        if quantization.doubleQuant {
            let secondLevel = (blocks + DoubleQuantizedScales.blockSize - 1) / DoubleQuantizedScales.blockSize
            scales = .doubleQuantized(
                DoubleQuantizedScales(
                    codes: try file.bytes(name + ".absmax.codes", count: blocks),
                    absmax: try finite(
                        try file.floats(name + ".absmax.scales", shape: [secondLevel]), ".absmax.scales"),
                    offset: try finite(try file.floats(name + ".absmax.offset", shape: [1]), ".absmax.offset")[0]))
        } else {
            scales = .plain(try finite(try file.floats(name + ".absmax", shape: [blocks]), ".absmax"))
        }
        return QuantizedTensor(shape: shape, codebook: codebook, blockSize: blockSize, codes: codes, scales: scales)
    }

    /// Stored names that are no tensor of the model: neither an fp32 tensor nor a part of a packed linear.
    public var unexpectedTensorNames: [String] {
        let parts =
            quantization.doubleQuant
            ? [".codes", ".absmax.codes", ".absmax.scales", ".absmax.offset"] : [".codes", ".absmax"]
        var known = Set<String>()
        for tensor in LlamaTensor.all(for: config) {
            if case .linear = tensor {
                for part in parts { known.insert(name(of: tensor) + part) }
            } else {
                known.insert(name(of: tensor))
            }
        }
        return file.names.filter { !known.contains($0) }
    }
}
