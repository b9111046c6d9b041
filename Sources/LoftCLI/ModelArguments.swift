import Recipes
import ArgumentParser

/// The model a command runs: `--model`, `--adapter`, `--tokenizer`.
struct ModelArguments: ParsableArguments {
    @Option(
        help:
            "A GGUF file, a Hugging Face folder, a llama2.c .bin file, a loft quantize folder, or a run / checkpoint folder (its adapter is applied)."
    )
    var model: String

    @Option(help: "A PEFT adapter folder to apply.")
    var adapter: String?

    @Option(
        help:
            "A SentencePiece tokenizer.model or a folder with tokenizer.json (default: the model's own, inside a GGUF or beside the model)."
    )
    var tokenizer: String?

    /// Loads the model, its adapter and its tokenizer.
    func load() throws -> ModelLoader.Loaded {
        let loaded = try ModelLoader.load(model: model, adapter: adapter, tokenizer: tokenizer)
        for warning in loaded.warnings { printError("loft: warning: \(warning)") }
        return loaded
    }
}
