import Formats
import Foundation
import Llama
import Tokenizers
import Training

/// The one front door from what a user names to a ready model and its tokenizer. Every command
/// comes through here, and every path checks the tokenizer against the model's vocabulary, so
/// no token id from outside can leave the embedding.
public enum ModelLoader {
    /// A model ready to run, its tokenizer, and what was loaded.
    public struct Loaded {
        public let model: LlamaModel
        public let tokenizer: any Tokenizer
        /// E.g. `q25 + adapter runs/x/final`.
        public let description: String
        /// The model's chat format, when its files name one (GGUF `tokenizer.chat_template`).
        public var chatTemplate: ChatTemplate? = nil

        /// What the user should know about the combination (e.g. a LoftQ adapter on another base).
        public var warnings: [String] = []

        /// A loaded model from its parts.
        public init(model: LlamaModel, tokenizer: any Tokenizer, description: String, chatTemplate: ChatTemplate? = nil) {
            (self.model, self.tokenizer, self.description, self.chatTemplate) = (model, tokenizer, description, chatTemplate)
        }
    }

    /// The format of the model at `path` (`auto` resolved from the path).
    public static func format(of path: String, declared: ModelFormat = .auto) throws -> ModelFormat {
        if declared != .auto { return declared }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw FormatError.fileNotFound(path: path) }
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

    /// The checkpoint at `path` for streaming one tensor at a time (a Hugging Face folder or a
    /// llama2.c file; a `loft quantize` folder holds no fp32 checkpoint).
    public static func openCheckpoint(_ path: String, format declared: ModelFormat = .auto) throws -> CheckpointSource {
        switch try format(of: path, declared: declared) {
        case .hf: return try HuggingFaceCheckpoint(folder: path)
        case .llama2c: return try Llama2CCheckpoint(path: path)
        case .gguf: return try GGUFCheckpoint(path: path)
        case .loft, .auto:
            throw FormatError.invalidConfig(path: path, key: "model.format",
                                            detail: "a loft quantize folder is already quantized; give the original checkpoint")
        }
    }

    /// A base model to run, frozen: a `loft quantize` folder (with its adapter), a Hugging Face
    /// folder or a llama2.c file.
    public static func loadBase(_ path: String, format declared: ModelFormat = .auto) throws -> LlamaModel {
        if try format(of: path, declared: declared) == .loft { return try QuantizedFolder.load(path) }
        return try LlamaModel(checkpoint: openCheckpoint(path, format: declared))
    }

    /// What `generate` and `eval` run: a base model with an optional PEFT adapter, or a run /
    /// checkpoint / final folder of `loft train` (its `config.yaml` rebuilds the same base, then
    /// its trained adapter is attached).
    public static func load(model path: String, adapter: String? = nil, tokenizer: String? = nil) throws -> Loaded {
        let folder = URL(fileURLWithPath: path)
        let runConfig = folder.appendingPathComponent("config.yaml")
        if FileManager.default.fileExists(atPath: runConfig.path) {
            let config = try ConfigLoader.load(path: runConfig.path)
            let built = try ModelBuilder.build(config, file: runConfig.path)
            let adapterFolder = try adapter.map { URL(fileURLWithPath: $0) } ?? trainedAdapter(in: folder)
            try AdapterFiles.attach(adapterFolder, to: built.model)
            return Loaded(model: built.model, tokenizer: built.tokenizer,
                          description: "\(config.model.path) (rebuilt from \(runConfig.path)) + adapter \(adapterFolder.path)")
        }
        // A GGUF is parsed once: weights, tokenizer and chat template all come from that one read.
        let format = try format(of: path)
        let gguf = format == .gguf ? try GGUFCheckpoint(path: path) : nil
        let model = try gguf.map { try LlamaModel(checkpoint: $0) } ?? loadBase(path, format: format)
        let adapterConfig = try adapter.map { try AdapterFiles.attach(URL(fileURLWithPath: $0), to: model) }
        let checked = try self.tokenizer(forModel: path, explicit: tokenizer, config: model.config, gguf: gguf)
        var loaded = Loaded(model: model, tokenizer: checked, description: path + (adapter.map { " + adapter \($0)" } ?? ""))
        if let adapter, let adapterConfig,
           let warning = baseMismatchWarning(adapter: adapter, config: adapterConfig, base: path, isLoftFolder: format == .loft) {
            loaded.warnings.append(warning)
        }
        if let gguf {
            loaded.chatTemplate = ChatTemplate(templateText: gguf.file.metadata["tokenizer.chat_template"]?.string)
        } else if let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("tokenizer_config.json")),
                  let config = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            loaded.chatTemplate = ChatTemplate(templateText: config["chat_template"] as? String)
        }
        return loaded
    }

    /// The warning for an adapter Loft started by LoftQ on its own quantization of another base
    /// (`base` is not that folder): on `base` it is not the model it was trained as. Nil otherwise.
    public static func baseMismatchWarning(adapter: String, config: AdapterConfig, base: String, isLoftFolder: Bool) -> String? {
        guard config.isLoftQOnLoftBase,
              config.provenance["loft.base"] != URL(fileURLWithPath: base).standardizedFileURL.path || !isLoftFolder else { return nil }
        return "\(adapter) was started by LoftQ on Loft's \(config.provenance["loft.bits"] ?? "?")-bit quantization of "
            + "\(config.provenance["loft.base"] ?? "another base"); on \(base) it is not the model it was trained as "
            + "(use the run folder, or loft export --backbone)"
    }

    /// The tokenizer of the model at `modelPath` (`explicit`, else beside the model or, for a
    /// GGUF, inside it — `gguf` when the caller has the file open already), checked against the
    /// model's vocabulary: the one check every path makes.
    public static func tokenizer(forModel modelPath: String, explicit: String?, config: LlamaConfig,
                                 gguf: GGUFCheckpoint? = nil) throws -> any Tokenizer {
        let tokenizer: any Tokenizer
        let path: String
        let isGGUF = gguf != nil || (try? format(of: modelPath)) == .gguf
        let huggingFaceFolder: String? = explicit.map { given -> String? in
            given.hasSuffix("tokenizer.json") ? (given as NSString).deletingLastPathComponent : hasBPEFiles(given) ? given : nil
        } ?? (isGGUF || !hasBPEFiles(modelPath) ? nil : modelPath)
        if explicit == nil, isGGUF {
            (tokenizer, path) = (try (gguf ?? GGUFCheckpoint(path: modelPath)).tokenizer(), modelPath)
        } else if let huggingFaceFolder {
            (tokenizer, path) = (try ByteLevelBPETokenizer(huggingFaceFolder: huggingFaceFolder),
                                 (huggingFaceFolder as NSString).appendingPathComponent("tokenizer.json"))
        } else {
            path = try tokenizerPath(forModel: modelPath, explicit: explicit)
            tokenizer = try SentencePieceTokenizer(path: path)
        }
        guard tokenizer.vocabularySize == config.vocabularySize else {
            throw RecipeError.vocabularyMismatch(tokenizer: path, tokenizerSize: tokenizer.vocabularySize,
                                                 model: modelPath, modelSize: config.vocabularySize)
        }
        return tokenizer
    }

    /// The tokenizer of the model at `modelPath`, checked against its vocabulary, without loading
    /// any weight (headers only): what `loft tokenize` uses.
    public static func tokenizer(forModel modelPath: String, explicit: String?) throws -> any Tokenizer {
        if try format(of: modelPath) == .loft {
            let config = try LlamaConfig(huggingFaceConfigAt: (modelPath as NSString).appendingPathComponent("config.json"))
            return try tokenizer(forModel: modelPath, explicit: explicit, config: config)
        }
        let source = try openCheckpoint(modelPath)
        return try tokenizer(forModel: modelPath, explicit: explicit, config: source.config, gguf: source as? GGUFCheckpoint)
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
        let models = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".model") }
        if models.count == 1 { return (folder as NSString).appendingPathComponent(models[0]) }
        throw FormatError.fileNotFound(path: "\(standard) (no tokenizer given with --tokenizer, and \(models.count) *.model files beside the model)")
    }

    /// The adapter of a run folder (`final/`, else its latest checkpoint) or of a checkpoint or
    /// final folder itself.
    static func trainedAdapter(in folder: URL) throws -> URL {
        let has = { (url: URL) in FileManager.default.fileExists(atPath: url.appendingPathComponent("adapter_model.safetensors").path) }
        if has(folder) { return folder }
        if has(folder.appendingPathComponent("final")) { return folder.appendingPathComponent("final") }
        return try Checkpoint.latest(in: folder.appendingPathComponent("checkpoints"))
    }
}
