import Foundation

/// Named Float32 tensors of a model checkpoint, under Hugging Face names
/// (`model.layers.{i}.self_attn.q_proj.weight`, ...), read one at a time.
public protocol CheckpointSource: AnyObject {
    /// Where the tensors come from (for error messages).
    var sourceDescription: String { get }
    /// The model shape.
    var config: LlamaConfig { get }
    /// The tensor names present.
    var tensorNames: [String] { get }
    /// The shape of tensor `name`, or nil when absent.
    func shape(of name: String) -> [Int]?
    /// Tensor `name` as Float32, in the `rotate_half` RoPE convention.
    func floats(_ name: String) throws -> [Float]
}

/// The Hugging Face names of the decoder's tensors and their shapes.
public enum LlamaTensorNames {
    /// The seven linear modules of a decoder layer with their HF paths.
    public static let linearModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// The HF path of module `module` of layer `layer` (without `.weight`).
    public static func linear(_ module: String, layer: Int) -> String {
        let group = ["gate_proj", "up_proj", "down_proj"].contains(module) ? "mlp" : "self_attn"
        return "model.layers.\(layer).\(group).\(module)"
    }

    /// [out, in] of a linear module.
    public static func linearShape(_ module: String, config c: LlamaConfig) -> [Int] {
        switch module {
        case "q_proj", "o_proj": return [c.dim, c.dim]
        case "k_proj", "v_proj": return [c.kvDim, c.dim]
        case "gate_proj", "up_proj": return [c.hiddenDim, c.dim]
        case "down_proj": return [c.dim, c.hiddenDim]
        default: preconditionFailure("unknown linear module \(module)")
        }
    }

    /// Every tensor a checkpoint must hold, with its shape.
    public static func expected(for c: LlamaConfig) -> [(name: String, shape: [Int])] {
        var names: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocabularySize, c.dim])]
        for layer in 0..<c.layers {
            names.append(("model.layers.\(layer).input_layernorm.weight", [c.dim]))
            names.append(("model.layers.\(layer).post_attention_layernorm.weight", [c.dim]))
            for module in linearModules {
                names.append((linear(module, layer: layer) + ".weight", linearShape(module, config: c)))
            }
        }
        names.append(("model.norm.weight", [c.dim]))
        if !c.tiedEmbeddings { names.append(("lm_head.weight", [c.vocabularySize, c.dim])) }
        return names
    }

    /// Checks that `source` holds exactly the expected tensors with the expected shapes
    /// (a stored `lm_head` next to tied embeddings and rotary buffers are tolerated).
    public static func validate(_ source: CheckpointSource) throws {
        let expected = expected(for: source.config)
        for (name, shape) in expected {
            guard let actual = source.shape(of: name) else {
                throw LlamaError.missingTensor(name: name, source: source.sourceDescription)
            }
            guard actual == shape else {
                throw LlamaError.shapeMismatch(name: name, expected: shape, actual: actual, source: source.sourceDescription)
            }
        }
        let known = Set(expected.map(\.name))
        for name in source.tensorNames where !known.contains(name) {
            if name.hasSuffix("rotary_emb.inv_freq") || name == "lm_head.weight" { continue }
            throw LlamaError.unexpectedTensor(name: name, source: source.sourceDescription)
        }
    }
}

/// A Hugging Face model folder: `config.json` plus `model.safetensors` or shards listed in
/// `model.safetensors.index.json`.
public final class HuggingFaceCheckpoint: CheckpointSource {
    public let config: LlamaConfig
    public let sourceDescription: String
    private var fileOfTensor: [String: SafeTensorsFile] = [:]

    /// Opens the folder at `path` (headers are read and checked; no tensor data yet).
    public init(folder path: String) throws {
        let folder = URL(fileURLWithPath: path)
        sourceDescription = path
        config = try LlamaConfig(huggingFaceConfigAt: folder.appendingPathComponent("config.json").path)
        let indexPath = folder.appendingPathComponent("model.safetensors.index.json").path
        if FileManager.default.fileExists(atPath: indexPath) {
            guard let data = FileManager.default.contents(atPath: indexPath),
                  let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let weightMap = json["weight_map"] as? [String: String] else {
                throw LlamaError.invalidConfig(path: indexPath, key: "weight_map", detail: "missing or not an object of strings")
            }
            var files: [String: SafeTensorsFile] = [:]
            for shard in Set(weightMap.values).sorted() {
                files[shard] = try SafeTensorsFile(path: folder.appendingPathComponent(shard).path)
            }
            for (name, shard) in weightMap {
                guard let file = files[shard], file.entries[name] != nil else {
                    throw LlamaError.missingTensor(name: name, source: folder.appendingPathComponent(shard).path)
                }
                fileOfTensor[name] = file
            }
        } else {
            let single = folder.appendingPathComponent("model.safetensors").path
            guard FileManager.default.fileExists(atPath: single) else { throw LlamaError.fileNotFound(path: single) }
            let file = try SafeTensorsFile(path: single)
            for name in file.entries.keys { fileOfTensor[name] = file }
        }
    }

    public var tensorNames: [String] { fileOfTensor.keys.sorted() }

    public func shape(of name: String) -> [Int]? { fileOfTensor[name]?.entries[name]?.shape }

    public func floats(_ name: String) throws -> [Float] {
        guard let file = fileOfTensor[name] else { throw LlamaError.missingTensor(name: name, source: sourceDescription) }
        return try file.floats(name)
    }
}
