import Foundation
import Llama
import Tokenizer

/// The model an evaluation runs, from what a user names: a base model (Hugging Face folder,
/// llama2.c file, `loft quantize` folder), optionally with a PEFT adapter, or a run / checkpoint
/// / final folder of `loft train` (its `config.yaml` rebuilds the same base, then its adapter is
/// attached).
public enum EvalModel {
    /// The loaded model and tokenizer, and a description of what was loaded.
    public struct Loaded {
        public let model: LlamaModel
        public let tokenizer: SentencePieceTokenizer
        public let description: String
    }

    /// Loads `path` (with `adapter` attached when given) and its tokenizer.
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
        let model = try ModelLocation.loadModel(path)
        if let adapter { try AdapterFiles.attach(URL(fileURLWithPath: adapter), to: model) }
        let tokenizerPath = try ModelLocation.tokenizerPath(forModel: path, explicit: tokenizer)
        let loadedTokenizer = try SentencePieceTokenizer(path: tokenizerPath)
        guard loadedTokenizer.vocabularySize == model.config.vocabularySize else {
            throw TrainingError.invalidValue(file: tokenizerPath, key: "vocabulary",
                                             detail: "\(loadedTokenizer.vocabularySize) pieces, the model has \(model.config.vocabularySize)")
        }
        return Loaded(model: model, tokenizer: loadedTokenizer, description: path + (adapter.map { " + adapter \($0)" } ?? ""))
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
