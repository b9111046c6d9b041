/// A checkpoint that does not fit the model (the outside world: these throw, never trap).
public enum LlamaError: Error, CustomStringConvertible {
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(name: String, source: String)
    /// The checkpoint holds a tensor the model does not use.
    case unexpectedTensor(name: String, source: String)
    /// A tensor's shape differs from what the config implies.
    case shapeMismatch(name: String, expected: [Int], actual: [Int], source: String)
    /// A token id outside the vocabulary (a tokenizer that does not belong to the model).
    case tokenOutOfRange(id: Int32, vocabularySize: Int)
    /// A stored weight holds a NaN or an infinity (element `index` of the flattened tensor).
    case nonFiniteWeight(name: String, index: Int, value: Float, source: String)
    /// A prompt with no token (generation needs at least one, e.g. BOS).
    case emptyPrompt

    public var description: String {
        switch self {
        case .missingTensor(let name, let source): return "\(source): missing tensor '\(name)'"
        case .unexpectedTensor(let name, let source): return "\(source): unexpected tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let actual, let source):
            return "\(source): tensor '\(name)' has shape \(actual), expected \(expected)"
        case .tokenOutOfRange(let id, let vocabularySize):
            return "token id \(id) is outside the model's vocabulary of \(vocabularySize)"
        case .nonFiniteWeight(let name, let index, let value, let source):
            let shown = value.isNaN ? "NaN" : "\(value)"
            return "\(source): tensor '\(name)' holds \(shown) at element \(index); weights must be finite"
        case .emptyPrompt:
            return "the prompt has no token (the tokenizer adds no BOS, so give a non-empty prompt)"
        }
    }
}
