import Foundation
import Support
import Llama

/// A Hugging Face model folder: `config.json` plus `model.safetensors` or shards listed in
/// `model.safetensors.index.json`.
public final class HuggingFaceCheckpoint: CheckpointSource {
    /// The stacked tensor whose members are being read (Phi-3's), read once.
    private let stacked = StackedTensorCache()
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
            guard let data = FileManager.default.contents(atPath: indexPath) else {
                throw FormatError.fileNotFound(path: indexPath)
            }
            let json: [String: Any]
            switch JSONText.object(data) {
            case .success(let object): json = object
            case .failure(let problem):
                throw FormatError.invalidConfig(path: indexPath, key: "(file)", detail: problem.detail)
            }
            guard let weightMap = json["weight_map"] as? [String: String] else {
                throw FormatError.invalidConfig(
                    path: indexPath, key: "weight_map", detail: "missing or not an object of strings")
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
            guard FileManager.default.fileExists(atPath: single) else { throw FormatError.fileNotFound(path: single) }
            let file = try SafeTensorsFile(path: single)
            for name in file.entries.keys { fileOfTensor[name] = file }
        }
    }

    public func name(of tensor: LlamaTensor) -> String {
        HuggingFaceNames.storedName(of: tensor, family: config.family)
    }

    public func shape(of tensor: LlamaTensor) -> [Int]? {
        let name = name(of: tensor)
        guard let shape = fileOfTensor[name]?.entries[name]?.shape else { return nil }
        return FusedRows.shape(of: tensor, stored: shape, config: config)
    }

    public func floats(_ tensor: LlamaTensor) throws -> [Float] {
        let name = name(of: tensor)
        guard let file = fileOfTensor[name] else {
            throw LlamaError.missingTensor(name: name, source: sourceDescription)
        }
        let stored = try stacked.values(of: tensor, named: name, config: config) { try file.floats(name) }
        return FusedRows.slice(stored, of: tensor, config: config)
    }

    public var unexpectedTensorNames: [String] {
        HuggingFaceNames.unexpected(fileOfTensor.keys.sorted(), config: config)
    }
}
