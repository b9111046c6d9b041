import Foundation

extension DecodingError {
    /// The dotted key path of the failure (`cells.2.name`).
    public var keyPath: String {
        let path: [CodingKey]
        switch self {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): path = c.codingPath
        case .keyNotFound(let key, let c): path = c.codingPath + [key]
        @unknown default: path = []
        }
        return path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    /// What was expected, in a few words.
    public var expectation: String {
        switch self {
        case .typeMismatch(let type, _), .valueNotFound(let type, _): return Self.plainName(of: type)
        case .keyNotFound: return "this key"
        case .dataCorrupted: return "a valid value"
        @unknown default: return "a valid value"
        }
    }

    /// `key 'a.b': expected a number` (or `expected …` at the top level).
    public var plainDetail: String {
        keyPath.isEmpty ? "expected \(expectation)" : "key '\(keyPath)': expected \(expectation)"
    }

    /// A type as a person reading a config or a state file would name it.
    public static func plainName(of type: Any.Type) -> String {
        let name = "\(type)"
        if name.hasPrefix("Array") { return "a list" }
        if name.hasPrefix("Dictionary") { return "a mapping" }
        if ["Int", "Int32", "Int64", "UInt64", "Double", "Float"].contains(name) { return "a number" }
        if name == "String" { return "a string" }
        if name == "Bool" { return "true or false" }
        return "a value of type \(name)"
    }
}
