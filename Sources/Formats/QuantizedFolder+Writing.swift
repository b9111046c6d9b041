import Foundation
import Llama
import Quantization
import Support

// The writing half of the `loft quantize` folder format (the reading half: `QuantizedFolder.swift`,
// `QuantizedFolderSource.swift`); `LoftQuantizer` decides what goes in, this decides how it is stored.

extension QuantizedFolder {
    /// The safetensors tensors holding one quantized weight `name` (`....q_proj.weight`).
    public static func tensors(of weight: QuantizedTensor, name: String) -> [(String, SafeTensor)] {
        var result: [(String, SafeTensor)] = [
            (
                name + ".codes",
                SafeTensor(dtype: .U8, shape: [weight.codes.bytes.count], bytes: Data(weight.codes.bytes))
            )
        ]
        switch weight.scales {
        case .plain(let absmax):
            result.append((name + ".absmax", SafeTensor(absmax, shape: [absmax.count])))
        case .doubleQuantized(let scales):
            result.append(
                (name + ".absmax.codes", SafeTensor(dtype: .U8, shape: [scales.codes.count], bytes: Data(scales.codes)))
            )
            result.append((name + ".absmax.scales", SafeTensor(scales.absmax, shape: [scales.absmax.count])))
            result.append((name + ".absmax.offset", SafeTensor([scales.offset], shape: [1])))
        }
        return result
    }

    /// `config.json`: the model's Hugging Face config with Loft's `quantization_config`, written atomically.
    public static func writeConfig(_ config: LlamaConfig, quantization: LoftQuantizationConfig, to url: URL) throws {
        var json = config.huggingFaceJSON
        json["quantization_config"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(quantization))
        try AtomicFile.write(
            try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: url)
    }

    /// Streams the quantized linears and the fp32 rest (read from `source` one at a time); the
    /// bytes of each quantized piece are made only when written.
    public static func writeModel(source: CheckpointSource, quantized: [String: QuantizedTensor], to url: URL) throws {
        var layout: [(name: String, dtype: SafeTensorsDType, shape: [Int])] = []
        var weightOfKey: [String: String] = [:]
        for (name, weight) in quantized {
            for (key, tensor) in QuantizedFolder.tensors(of: weight, name: name) {
                layout.append((key, tensor.dtype, tensor.shape))
                weightOfKey[key] = name
            }
        }
        var fp32: [String: LlamaTensor] = [:]
        for tensor in LlamaTensor.all(for: source.config) where quantized[HuggingFaceNames.name(of: tensor)] == nil {
            fp32[HuggingFaceNames.name(of: tensor)] = tensor
            layout.append((HuggingFaceNames.name(of: tensor), .F32, tensor.shape(in: source.config)))
        }
        try SafeTensorsFile.writeStreaming(layout: layout, metadata: ["format": "loft-quantized"], to: url) {
            key, emit in
            if let name = weightOfKey[key], let weight = quantized[name],
                let piece = QuantizedFolder.tensors(of: weight, name: name).first(where: { $0.0 == key })
            {
                try piece.1.bytes.withUnsafeBytes(emit)
            } else if let tensor = fp32[key] {
                try source.floats(tensor).withUnsafeBytes(emit)
            }
        }
    }
}
