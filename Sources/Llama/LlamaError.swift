/// Problems with model files and configurations (the outside world: these throw, never trap).
public enum LlamaError: Error, CustomStringConvertible {
    /// A file or folder that should exist does not.
    case fileNotFound(path: String)
    /// A file is shorter or longer than its own header says.
    case truncated(path: String, detail: String)
    /// A safetensors header is malformed (length, JSON, offsets, dtypes).
    case invalidHeader(path: String, detail: String)
    /// A tensor has a dtype Loft does not read.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(name: String, source: String)
    /// The checkpoint holds a tensor the model does not use.
    case unexpectedTensor(name: String, source: String)
    /// A tensor's shape differs from what the config implies.
    case shapeMismatch(name: String, expected: [Int], actual: [Int], source: String)
    /// A config key is missing, has the wrong type, or an unsupported value.
    case invalidConfig(path: String, key: String, detail: String)
    /// The path is neither a Hugging Face folder, a llama2.c file nor a Loft folder.
    case unknownFormat(path: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "file not found: \(path)"
        case .truncated(let path, let detail): return "\(path): truncated or mis-sized file: \(detail)"
        case .invalidHeader(let path, let detail): return "\(path): invalid safetensors header: \(detail)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); expected F32, F16 or BF16"
        case .missingTensor(let name, let source): return "\(source): missing tensor '\(name)'"
        case .unexpectedTensor(let name, let source): return "\(source): unexpected tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let actual, let source):
            return "\(source): tensor '\(name)' has shape \(actual), expected \(expected)"
        case .invalidConfig(let path, let key, let detail): return "\(path): config key '\(key)': \(detail)"
        case .unknownFormat(let path):
            return "\(path): not a model (expected a Hugging Face folder with config.json, a llama2.c .bin file, or a loft folder)"
        }
    }
}
