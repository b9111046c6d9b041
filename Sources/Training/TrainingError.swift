/// Problems of the outside world met while configuring, training, checkpointing or evaluating.
public enum TrainingError: Error, CustomStringConvertible {
    /// A config key that no section knows.
    case unknownKey(file: String, key: String, line: Int?, known: [String])
    /// A config value of the wrong type or shape.
    case invalidValue(file: String, key: String, detail: String)
    /// A config value outside its allowed range.
    case outOfRange(file: String, key: String, value: String, expected: String)
    /// The YAML itself does not parse.
    case unreadableConfig(file: String, detail: String)
    /// A `--set` argument not of the form `section.key=value`.
    case badOverride(String)
    /// A data file is missing or malformed.
    case badData(file: String, line: Int?, detail: String)
    /// The loss or a gradient became NaN or infinite.
    case nonFinite(step: Int, what: String)
    /// A checkpoint cannot be read or does not match this run.
    case badCheckpoint(path: String, detail: String)
    /// Resuming with a config that differs in keys that must not change.
    case incompatibleResume(checkpoint: String, keys: [String])

    public var description: String {
        switch self {
        case .unknownKey(let file, let key, let line, let known):
            let place = file + (line.map { ":\($0)" } ?? "")
            return "\(place): unknown key '\(key)' (known here: \(known.joined(separator: ", ")))"
        case .invalidValue(let file, let key, let detail): return "\(file): key '\(key)': \(detail)"
        case .outOfRange(let file, let key, let value, let expected):
            return "\(file): key '\(key)' = \(value) is out of range (expected \(expected))"
        case .unreadableConfig(let file, let detail): return "\(file): not valid YAML: \(detail)"
        case .badOverride(let text): return "--set \(text): expected section.key=value"
        case .badData(let file, let line, let detail): return "\(file)\(line.map { ":\($0)" } ?? ""): \(detail)"
        case .nonFinite(let step, let what):
            return "step \(step): \(what) is not finite; the run stopped and the last good checkpoint is kept"
        case .badCheckpoint(let path, let detail): return "checkpoint \(path): \(detail)"
        case .incompatibleResume(let checkpoint, let keys):
            return "cannot resume from \(checkpoint): the config differs in \(keys.joined(separator: ", "))"
        }
    }
}
