import Formats
import Foundation
import Llama
import Tokenizers
import Training

/// What a model path holds — its format, its checkpoint for streaming, its tokenizer checked
/// against the vocabulary — read once from the files. `ModelBuilder` and `ModelLoader` both stand
/// on this; it calls neither.
public enum ModelFiles {
    /// The format of the model at `path` (`auto` resolved from the path; anything else returned
    /// as given). Resolve once per load and pass the result on.
    public static func format(of path: String, declared: ModelFormat = .auto) throws -> ModelFormat {
        if declared != .auto { return declared }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError.fileNotFound(path: path)
        }
        guard isDirectory.boolValue else {
            let magic = FileHandle(forReadingAtPath: path).flatMap { try? $0.read(upToCount: 4) }
            return magic == Data("GGUF".utf8) ? .gguf : .llama2c
        }
        if QuantizedFolder.quantizationConfig(path) != nil { return .loft }
        guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json")) else {
            throw FormatError.unknownFormat(path: path)
        }
        return .hf
    }

    /// The checkpoint at `path` for streaming one tensor at a time (a Hugging Face folder, a GGUF
    /// or a llama2.c file; a `loft quantize` folder holds no fp32 checkpoint).
    public static func openCheckpoint(_ path: String, format declared: ModelFormat = .auto) throws -> CheckpointSource {
        switch try format(of: path, declared: declared) {
        case .hf: return try HuggingFaceCheckpoint(folder: path)
        case .llama2c: return try Llama2CCheckpoint(path: path)
        case .gguf: return try GGUFCheckpoint(path: path)
        case .loft, .auto:
            throw FormatError.invalidConfig(
                path: path, key: "model.format",
                detail: "a loft quantize folder is already quantized; give the original checkpoint")
        }
    }

    /// The tokenizer of the model at `modelPath` of the resolved `format` (`explicit`, else beside
    /// the model or, for a GGUF, inside it — `gguf` when the caller has the file open already),
    /// checked against the model's vocabulary: the one check every path makes, so no token id
    /// from outside can leave the embedding.
    public static func tokenizer(
        forModel modelPath: String, format: ModelFormat, explicit: String?,
        config: LlamaConfig, gguf: GGUFCheckpoint? = nil
    ) throws -> any Tokenizer {
        let tokenizer: any Tokenizer
        let path: String
        let isGGUF = gguf != nil || format == .gguf
        let huggingFaceFolder: String? =
            explicit.map { given -> String? in
                if given.hasSuffix("tokenizer.json") { return (given as NSString).deletingLastPathComponent }
                return hasBPEFiles(given) ? given : nil
            } ?? (isGGUF || !hasBPEFiles(modelPath) ? nil : modelPath)
        let vocabularyFile = (modelPath as NSString).appendingPathComponent("tokenizer.gguf")
        if explicit == nil, isGGUF {
            tokenizer = try gguf?.tokenizer() ?? GGUFFile(path: modelPath).tokenizer()
            path = modelPath
        } else if let explicit, explicit.hasSuffix(".gguf") {
            tokenizer = try GGUFFile(path: explicit).tokenizer()
            path = explicit
        } else if let huggingFaceFolder {
            tokenizer = try ByteLevelBPETokenizer(huggingFaceFolder: huggingFaceFolder)
            path = (huggingFaceFolder as NSString).appendingPathComponent("tokenizer.json")
        } else if explicit == nil, FileManager.default.fileExists(atPath: vocabularyFile) {
            tokenizer = try GGUFFile(path: vocabularyFile).tokenizer()  // a GGUF's SentencePiece vocabulary
            path = vocabularyFile
        } else {
            path = try tokenizerPath(forModel: modelPath, explicit: explicit)
            tokenizer = try SentencePieceTokenizer(path: path)
        }
        guard tokenizer.vocabularySize == config.vocabularySize else {
            throw RecipeError.vocabularyMismatch(
                tokenizer: path, tokenizerSize: tokenizer.vocabularySize, model: modelPath,
                modelSize: config.vocabularySize)
        }
        return tokenizer
    }

    /// The tokenizer of the model at `modelPath`, checked against its vocabulary, without loading
    /// any weight (headers only): what `loft tokenize` uses. A GGUF's own tokenizer is read
    /// whatever the architecture (a vocabulary-only file has none of the model's tensors).
    public static func tokenizer(forModel modelPath: String, explicit: String?) throws -> any Tokenizer {
        let format = try format(of: modelPath)
        if format == .gguf, explicit == nil { return try GGUFFile(path: modelPath).tokenizer() }
        if format == .loft {
            let config = try LlamaConfig(
                huggingFaceConfigAt: (modelPath as NSString).appendingPathComponent("config.json"))
            return try tokenizer(forModel: modelPath, format: format, explicit: explicit, config: config)
        }
        let source = try openCheckpoint(modelPath, format: format)
        return try tokenizer(
            forModel: modelPath, format: format, explicit: explicit, config: source.config,
            gguf: source as? GGUFCheckpoint)
    }

    /// Whether `path` is a folder with a `tokenizer.json` and no SentencePiece `tokenizer.model`.
    static func hasBPEFiles(_ path: String) -> Bool {
        let files = FileManager.default
        return files.fileExists(atPath: (path as NSString).appendingPathComponent("tokenizer.json"))
            && !files.fileExists(atPath: (path as NSString).appendingPathComponent("tokenizer.model"))
    }

    /// The tokenizer file for the model at `modelPath`: `explicit` when given, else
    /// `tokenizer.model` in the model's folder, else the only `*.model` file there.
    public static func tokenizerPath(forModel modelPath: String, explicit: String?) throws -> String {
        if let explicit { return explicit }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory)
        let folder = isDirectory.boolValue ? modelPath : (modelPath as NSString).deletingLastPathComponent
        let standard = (folder as NSString).appendingPathComponent("tokenizer.model")
        if FileManager.default.fileExists(atPath: standard) { return standard }
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let models = listing.filter { $0.hasSuffix(".model") }
        if models.count == 1 { return (folder as NSString).appendingPathComponent(models[0]) }
        throw FormatError.fileNotFound(
            path:
                "\(standard) (no tokenizer given with --tokenizer, and \(models.count) *.model files beside the model)")
    }

    /// The warning for an adapter Loft started by LoftQ on its own quantization of another base
    /// (`base` is not that folder): on `base` it is not the model it was trained as. Nil otherwise.
    public static func baseMismatchWarning(
        adapter: String, config: AdapterConfig, base: String,
        isLoftFolder: Bool
    ) -> String? {
        let sameFolder = config.provenance["loft.base"] == URL(fileURLWithPath: base).standardizedFileURL.path
        guard config.isLoftQOnLoftBase, !sameFolder || !isLoftFolder else { return nil }
        return "\(adapter) was started by LoftQ on Loft's \(config.provenance["loft.bits"] ?? "?")-bit quantization of "
            + "\(config.provenance["loft.base"] ?? "another base"); on \(base) it is not the model it was trained as "
            + "(use the run folder, or loft export --backbone)"
    }
}
