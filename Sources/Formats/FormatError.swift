/// Problems with model files and their configurations (the outside world: these throw, never
/// trap). Tensors that do not fit the model are `LlamaError`s.
public enum FormatError: Error, CustomStringConvertible {
    /// A file or folder that should exist does not.
    case fileNotFound(path: String)
    /// A file is shorter or longer than its own header says.
    case truncated(path: String, detail: String)
    /// A safetensors header is malformed (length, JSON, offsets, dtypes).
    case invalidHeader(path: String, detail: String)
    /// A tensor has a dtype Loft does not read.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A config key is missing, has the wrong type, or an unsupported value.
    case invalidConfig(path: String, key: String, detail: String)
    /// A GGUF file is malformed: `field` is what was being read.
    case invalidGGUF(path: String, field: String, detail: String)
    /// A well-formed file asks for something Loft does not support (an architecture, a tensor type).
    case unsupported(path: String, detail: String)
    /// The path is neither a Hugging Face folder, a llama2.c file nor a Loft folder.
    case unknownFormat(path: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "file not found: \(path)"
        case .truncated(let path, let detail): return "\(path): truncated or mis-sized file: \(detail)"
        case .invalidHeader(let path, let detail): return "\(path): invalid safetensors header: \(detail)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); expected F32, F16 or BF16"
        case .invalidConfig(let path, let key, let detail):
            return key == "(file)" ? "\(path): \(detail)" : "\(path): config key '\(key)': \(detail)"
        case .invalidGGUF(let path, let field, let detail): return "\(path): invalid GGUF at \(field): \(detail)"
        case .unsupported(let path, let detail): return "\(path): not supported: \(detail)"
        case .unknownFormat(let path):
            return
                "\(path): not a model (expected a Hugging Face folder with config.json, a GGUF file, a llama2.c .bin file, or a loft folder)"
        }
    }
}

/// Which reader a model path needs (`model.format` in a run config).
public enum ModelFormat: String, Codable, Sendable, CaseIterable {
    /// Decided from the path: a `loft quantize` folder, a Hugging Face folder, or a llama2.c file.
    case auto
    /// A Hugging Face folder (`config.json` + safetensors).
    case hf
    /// A llama2.c `.bin` checkpoint.
    case llama2c
    /// A folder written by `loft quantize`.
    case loft
    /// A llama.cpp GGUF file (`general.architecture = llama`).
    case gguf
}
