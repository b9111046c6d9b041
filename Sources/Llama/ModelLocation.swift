import Foundation

/// Where a model and its tokenizer live, from the path a user gives.
public enum ModelLocation {
    /// The checkpoint at `path`: a Hugging Face folder (`config.json` + safetensors) or a
    /// llama2.c `.bin` file.
    public static func openCheckpoint(_ path: String) throws -> CheckpointSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LlamaError.fileNotFound(path: path)
        }
        if isDirectory.boolValue {
            guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json")) else {
                throw LlamaError.unknownFormat(path: path)
            }
            return try HuggingFaceCheckpoint(folder: path)
        }
        return try Llama2CCheckpoint(path: path)
    }

    /// The model at `path`: a `loft quantize` folder (quantized base plus its adapter), a Hugging
    /// Face folder or a llama2.c file (fp32, frozen).
    public static func loadModel(_ path: String) throws -> LlamaModel {
        if QuantizedFolder.quantizationConfig(path) != nil { return try QuantizedFolder.load(path) }
        return try LlamaModel(checkpoint: openCheckpoint(path))
    }

    /// The tokenizer for the model at `modelPath`: `explicit` when given, else `tokenizer.model`
    /// in the model's folder, else the only `*.model` file there.
    public static func tokenizerPath(forModel modelPath: String, explicit: String?) throws -> String {
        if let explicit { return explicit }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory)
        let folder = isDirectory.boolValue ? modelPath : (modelPath as NSString).deletingLastPathComponent
        let standard = (folder as NSString).appendingPathComponent("tokenizer.model")
        if FileManager.default.fileExists(atPath: standard) { return standard }
        let models = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".model") }
        if models.count == 1 { return (folder as NSString).appendingPathComponent(models[0]) }
        throw LlamaError.fileNotFound(path: "\(standard) (no tokenizer given with --tokenizer, and \(models.count) *.model files beside the model)")
    }
}
