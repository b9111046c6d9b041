/// Problems of the outside world met by a recipe: what the user named does not fit together.
public enum RecipeError: Error, CustomStringConvertible {
    /// The tokenizer and the model disagree on the vocabulary (ids could leave the embedding).
    case vocabularyMismatch(tokenizer: String, tokenizerSize: Int, model: String, modelSize: Int)
    /// An option or flag has a value the recipe cannot run with.
    case invalidOption(name: String, detail: String)
    /// A chat template that is missing, unreadable, or uses what Loft's Jinja does not run.
    case badChatTemplate(origin: String, detail: String)

    public var description: String {
        switch self {
        case .vocabularyMismatch(let tokenizer, let tokenizerSize, let model, let modelSize):
            return
                "\(tokenizer): the tokenizer has \(tokenizerSize) pieces, the model \(model) has a vocabulary of \(modelSize)"
        case .invalidOption(let name, let detail): return "\(name): \(detail)"
        case .badChatTemplate(let origin, let detail): return "\(origin): chat template: \(detail)"
        }
    }
}
