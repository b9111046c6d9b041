import Foundation

/// A parsed JSON value that keeps what JSON says: booleans are not numbers, integers are numbers
/// without a fraction. Requests are read through it so that each field's type is checked by name.
public enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses a request body: one JSON object.
    /// - Throws: `APIError` 400 when the body is not JSON or not an object.
    public static func parseObject(_ data: Data) throws -> [String: JSONValue] {
        guard !data.isEmpty else { throw APIError.invalid("the request body is empty; expected a JSON object") }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw APIError.invalid("the request body is not valid JSON (\(Self.describe(error)))")
        }
        guard case .object(let object) = value else {
            throw APIError.invalid("the request body must be a JSON object, not \(value.typeName)")
        }
        return object
    }

    /// The JSON name of the value's type, for messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }
}

/// Typed reads of a request object's fields; each wrong type is a 400 naming the field.
struct FieldReader {
    let object: [String: JSONValue]
    /// The path of the object in the request, e.g. `messages[1]` (empty at the top).
    let path: String

    init(_ object: [String: JSONValue], path: String = "") {
        (self.object, self.path) = (object, path)
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value, or nil when absent or JSON null (OpenAI's clients send null for "not given").
    func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw wrongType(key, value, expected: "a string") }
        return text
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw wrongType(key, value, expected: "a boolean") }
        return flag
    }

    /// A finite number in `range`.
    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = value(key) else { return nil }
        guard case .number(let number) = value, number.isFinite else {
            throw wrongType(key, value, expected: "a number")
        }
        guard range.contains(number) else {
            throw APIError.invalid(
                "'\(name(key))' is \(Self.format(number)); expected a number in \(Self.format(range.lowerBound))..."
                    + Self.format(range.upperBound), param: name(key))
        }
        return number
    }

    /// An integer in `range` (a JSON number without a fraction).
    func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard case .number(let number) = value, number.isFinite, number.rounded() == number,
            abs(number) < 9.0e15
        else { throw wrongType(key, value, expected: "an integer") }
        guard number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            throw APIError.invalid(
                "'\(name(key))' is \(Self.format(number)); expected an integer in \(range.lowerBound)...\(range.upperBound)",
                param: name(key))
        }
        return Int(number)
    }

    func wrongType(_ key: String, _ value: JSONValue, expected: String) -> APIError {
        APIError.invalid("'\(name(key))' must be \(expected), not \(value.typeName)", param: name(key))
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
