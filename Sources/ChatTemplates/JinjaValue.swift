import Foundation

/// A value of a Jinja template, with Python's semantics as jinja2 gives them (truthiness,
/// equality, `str()`), since chat templates are written for jinja2.
/// reference: jinja2 3.1 (runtime.Undefined, utils.Namespace); Python's str()/repr()
public indirect enum JinjaValue: Sendable {
    /// A name or key that does not exist: empty when printed, false when tested, an error when
    /// used in arithmetic or looked into (jinja2's default `Undefined`).
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([JinjaValue])
    /// A tuple (`(a, b)`, a dict's items): a list that prints with parentheses and never equals one.
    case tuple([JinjaValue])
    case dict(JinjaDict)
    /// A mutable namespace (`namespace(...)`), shared by reference.
    case namespace(JinjaNamespace)
    /// A macro defined by the template.
    case macro(JinjaMacro)
    /// A global function (`range`, `raise_exception`, `namespace`, …).
    case function(String)

    /// Python's truthiness.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .double(let value): return value != 0
        case .string(let value): return !value.isEmpty
        case .list(let values), .tuple(let values): return !values.isEmpty
        case .dict(let dict): return !dict.keyValues.isEmpty
        case .namespace, .macro, .function: return true
        }
    }

    /// The items of a list or tuple.
    var sequenceItems: [JinjaValue]? {
        switch self {
        case .list(let items), .tuple(let items): return items
        default: return nil
        }
    }

    /// True for `undefined`.
    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python's `str()` (what `{{ value }}` prints); undefined prints nothing.
    public var text: String {
        switch self {
        case .undefined: return ""
        case .string(let value): return value
        default: return representation
        }
    }

    /// Python's `repr()`: strings quoted, containers with their items' repr.
    public var representation: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .double(let value): return Self.pythonFloat(value)
        case .string(let value): return Self.pythonQuoted(value)
        case .list(let values): return "[" + values.map(\.representation).joined(separator: ", ") + "]"
        case .tuple(let values):
            return "(" + values.map(\.representation).joined(separator: ", ") + (values.count == 1 ? ",)" : ")")
        case .dict(let dict):
            let items = dict.entries.map { $0.0.representation + ": " + $0.1.representation }
            return "{" + items.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        case .macro(let macro): return "<Macro '\(macro.name)'>"
        case .function(let name): return "<function \(name)>"
        }
    }

    /// The name of the value's type, as Python calls it (for messages).
    public var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .macro: return "Macro"
        case .function: return "function"
        }
    }

    /// Python's float repr for the values templates print (`1.0`, `0.5`, `1e+20`).
    static func pythonFloat(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded(), abs(value) < 1e16 { return String(format: "%.1f", value) }
        return "\(value)"
    }

    /// Python's repr of a string: single quotes unless the text holds one and no double quote.
    static func pythonQuoted(_ text: String) -> String {
        let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var result = String(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if Character(scalar) == quote {
                    result += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += String(format: "\\x%02x", scalar.value)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + String(quote)
    }
}

extension JinjaValue: Equatable {
    /// Python's `==`: numbers across int/float/bool, containers item by item; undefined equals
    /// only undefined.
    public static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a == b
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)): return a == b
        case (.dict(let a), .dict(let b)): return a == b
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.function(let a), .function(let b)): return a == b
        default:
            if let a = lhs.number, let b = rhs.number { return a == b }
            return false
        }
    }

    /// The numeric value of a bool, int or float (Python treats bools as 0 and 1).
    var number: Double? {
        switch self {
        case .bool(let value): return value ? 1 : 0
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The integer value of a bool or int.
    var integer: Int? {
        switch self {
        case .bool(let value): return value ? 1 : 0
        case .int(let value): return value
        default: return nil
        }
    }
}

/// A dictionary that keeps insertion order, as Python's does (templates iterate and print it).
/// Keys are strings or numbers (`{0: 'a'}`); `1`, `1.0` and `true` are the same key, as in Python.
public struct JinjaDict: Sendable, Equatable {
    /// The keys in insertion order, as written.
    public private(set) var keyValues: [JinjaValue] = []
    private var storage: [Key: JinjaValue] = [:]

    /// A hashable key: a string, or a number that is an integer.
    enum Key: Hashable {
        case string(String), int(Int), double(Double)

        init?(_ value: JinjaValue) {
            switch value {
            case .string(let text): self = .string(text)
            case .int(let number): self = .int(number)
            case .bool(let flag): self = .int(flag ? 1 : 0)
            case .double(let number):
                if number == number.rounded(), abs(number) < 9e18 {
                    self = .int(Int(number))
                } else {
                    self = .double(number)
                }
            default: return nil
            }
        }
    }

    /// An empty dictionary.
    public init() {}

    /// A dictionary of string-keyed `pairs` in their order (a repeated key keeps its first place).
    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    /// The string keys, in order (numbers written as Python prints them).
    public var keys: [String] { keyValues.map(\.text) }

    /// The value of the string `key`.
    public subscript(key: String) -> JinjaValue? {
        get { storage[.string(key)] }
        set { self[value: .string(key)] = newValue }
    }

    /// The value of any key; nil for an absent or unhashable one. Setting a new key appends it.
    public subscript(value key: JinjaValue) -> JinjaValue? {
        get { Key(key).flatMap { storage[$0] } }
        set {
            guard let hashed = Key(key) else { return }
            if storage[hashed] == nil, newValue != nil { keyValues.append(key) }
            if newValue == nil { keyValues.removeAll { Key($0) == hashed } }
            storage[hashed] = newValue
        }
    }

    /// Whether `key` can be a key (a string or a number).
    static func isHashable(_ key: JinjaValue) -> Bool { Key(key) != nil }

    /// The (key, value) pairs in order, keys as written.
    public var entries: [(JinjaValue, JinjaValue)] { keyValues.map { ($0, self[value: $0] ?? .none) } }

    /// The (key, value) pairs in order, keys as text.
    public var pairs: [(String, JinjaValue)] { entries.map { ($0.0.text, $0.1) } }

    public static func == (lhs: JinjaDict, rhs: JinjaDict) -> Bool {
        lhs.keyValues.count == rhs.keyValues.count && lhs.keyValues.allSatisfy { lhs[value: $0] == rhs[value: $0] }
    }
}

/// The state of a `namespace()`, which `{% set ns.name = … %}` changes from inside loops.
public final class JinjaNamespace: @unchecked Sendable {
    /// The attributes (one render uses a namespace on one thread).
    public var attributes: JinjaDict

    /// A namespace holding `attributes`.
    public init(_ attributes: JinjaDict) { self.attributes = attributes }
}

/// A macro: its parameters (with default expressions) and body.
public struct JinjaMacro: Sendable {
    public let name: String
    let parameters: [(name: String, defaultValue: JinjaExpression?)]
    let body: [JinjaStatement]
}
