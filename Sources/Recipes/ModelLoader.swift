import ChatTemplates
import Formats
import Foundation
import Llama
import Tokenizers
import Training

/// The one front door from what a user names to a ready model and its tokenizer, for the commands
/// that run a model (`generate`, `eval`, `export`): a base with an optional adapter, or a
/// `loft train` run rebuilt by `ModelBuilder` from its config. The files are read by `ModelFiles`.
public enum ModelLoader {
    /// A model ready to run, its tokenizer, and what was loaded.
    public struct Loaded {
        public let model: LlamaModel
        public let tokenizer: any Tokenizer
        /// E.g. `q25 + adapter runs/x/final`.
        public let description: String
        /// The model's chat template text and where it was found, when its files hold one.
        public var chatTemplateSource: (text: String, origin: String)? = nil

        /// What the user should know about the combination (e.g. a LoftQ adapter on another base).
        public var warnings: [String] = []

        /// A loaded model from its parts.
        public init(model: LlamaModel, tokenizer: any Tokenizer, description: String) {
            self.model = model
            self.tokenizer = tokenizer
            self.description = description
        }

        /// The chat template to render with: `file` when given, else the model's own.
        /// - Throws: when there is none, or Loft cannot run it (naming where it came from).
        public func chatTemplate(file: String? = nil) throws -> ChatTemplate {
            if let file { return try ModelFiles.chatTemplate(file: file, tokenizer: tokenizer) }
            guard let source = chatTemplateSource else {
                throw RecipeError.badChatTemplate(
                    origin: description,
                    detail: "the model's files hold no chat template; give one with --chat-template")
            }
            return try ModelFiles.chatTemplate(text: source.text, origin: source.origin, tokenizer: tokenizer)
        }
    }

    /// A base model to run, frozen: a `loft quantize` folder (with its adapter), a GGUF, a Hugging
    /// Face folder or a llama2.c file.
    public static func loadBase(_ path: String, format declared: ModelFormat = .auto) throws -> LlamaModel {
        let format = try ModelFiles.format(of: path, declared: declared)
        if format == .loft { return try QuantizedFolder.load(path) }
        return try LlamaModel(checkpoint: ModelFiles.openCheckpoint(path, format: format))
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
            var loaded = Loaded(
                model: built.model, tokenizer: built.tokenizer,
                description: "\(config.model.path) (rebuilt from \(runConfig.path)) + adapter \(adapterFolder.path)")
            if let file = config.data.chatTemplate {
                loaded.chatTemplateSource = (try ModelFiles.chatTemplateText(file: file), file)
            } else {
                loaded.chatTemplateSource = ModelFiles.chatTemplateSource(forModel: config.model.path)
            }
            return loaded
        }
        // A GGUF is parsed once: weights, tokenizer and chat template all come from that one read.
        let format = try ModelFiles.format(of: path)
        let gguf = format == .gguf ? try GGUFCheckpoint(path: path) : nil
        let model = try gguf.map { try LlamaModel(checkpoint: $0) } ?? loadBase(path, format: format)
        let adapterConfig = try adapter.map { try AdapterFiles.attach(URL(fileURLWithPath: $0), to: model) }
        let checked = try ModelFiles.tokenizer(
            forModel: path, format: format, explicit: tokenizer, config: model.config, gguf: gguf)
        var loaded = Loaded(
            model: model, tokenizer: checked, description: path + (adapter.map { " + adapter \($0)" } ?? ""))
        if let adapter, let adapterConfig,
            let warning = ModelFiles.baseMismatchWarning(
                adapter: adapter, config: adapterConfig, base: path, isLoftFolder: format == .loft)
        {
            loaded.warnings.append(warning)
        }
        loaded.chatTemplateSource = ModelFiles.chatTemplateSource(forModel: path, gguf: gguf?.file)
        return loaded
    }

    /// The adapter of a run folder (`final/`, else its latest checkpoint) or of a checkpoint or
    /// final folder itself.
    public static func trainedAdapter(in folder: URL) throws -> URL {
        let has = { (url: URL) in
            FileManager.default.fileExists(atPath: url.appendingPathComponent("adapter_model.safetensors").path)
        }
        if has(folder) { return folder }
        if has(folder.appendingPathComponent("final")) { return folder.appendingPathComponent("final") }
        return try Checkpoint.latest(in: folder.appendingPathComponent("checkpoints"))
    }
}
