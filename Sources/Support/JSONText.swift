import Foundation

/// JSON read from a file, with parse failures said the way a person fixes them: where (line and
/// column, counted from 1) and what, instead of Foundation's character offsets.
public enum JSONText {
    /// The top-level object in `data`, or why there is none (`not valid JSON at line 3, column 9:
    /// invalid value`; `a JSON array, not an object`).
    public static func object(_ data: Data) -> Result<[String: Any], JSONProblem> {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data) } catch {
            return .failure(JSONProblem(detail: describe(error, in: data)))
        }
        guard let object = value as? [String: Any] else {
            return .failure(
                JSONProblem(detail: "\(value is [Any] ? "a JSON array" : "a JSON value") at the top, not an object"))
        }
        return .success(object)
    }

    /// `T` decoded from JSON `data`, or why not: the parse position for bad JSON, the key and
    /// what was expected for a bad value.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) -> Result<T, JSONProblem> {
        if case .failure(let problem) = object(data) { return .failure(problem) }
        do { return .success(try JSONDecoder().decode(T.self, from: data)) } catch let error as DecodingError {
            return .failure(JSONProblem(detail: error.plainDetail))
        } catch {
            return .failure(JSONProblem(detail: "\(error)"))
        }
    }

    /// Foundation's parse error, its character offset turned into a line and column.
    static func describe(_ error: Error, in data: Data) -> String {
        var text = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "unreadable"
        if text.hasSuffix(".") { text.removeLast() }
        guard let range = text.range(of: #"(around|starting from) character \d+"#, options: .regularExpression),
            let offset = Int(text[range].split(separator: " ").last ?? "")
        else {
            return "not valid JSON: " + lowercasedFirst(text)
        }
        let what = text[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
        let (line, column) = location(of: offset, in: data)
        return "not valid JSON at line \(line), column \(column): \(lowercasedFirst(String(what)))"
    }

    /// Line and column (from 1) of byte `offset`.
    public static func location(of offset: Int, in data: Data) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for byte in data.prefix(max(0, offset)) {
            if byte == 0x0A { (line, column) = (line + 1, 1) } else { column += 1 }
        }
        return (line, column)
    }

    /// "Invalid value" → "invalid value"; "JSON text …" stays.
    static func lowercasedFirst(_ s: String) -> String {
        let second = s.dropFirst().first
        return second.map { $0.isUppercase } ?? false ? s : s.prefix(1).lowercased() + s.dropFirst()
    }
}

/// Why a file is not the JSON object expected (the caller adds the file's name).
public struct JSONProblem: Error, CustomStringConvertible {
    /// In a few words, with the line and column when the parser gave a position.
    public let detail: String
    public var description: String { detail }
}

extension String {
    /// The text of UTF-8 `data`, or the line (from 1) of its first byte that is not UTF-8.
    public static func utf8OrFirstBadLine(_ data: Data) -> Result<String, UTF8Problem> {
        if let text = String(data: data, encoding: .utf8) { return .success(text) }
        var line = 1, lineStart = data.startIndex
        var iterator = data.makeIterator()
        var decoder = UTF8()
        var index = data.startIndex
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                index += UTF8.width(scalar)
                if scalar == "\n" { (line, lineStart) = (line + 1, index) }
            case .emptyInput, .error:  // the whole text did not decode, so the input ends only after an error
                return .failure(UTF8Problem(line: line, column: index - lineStart + 1))
            }
        }
    }
}

/// Where text stops being UTF-8.
public struct UTF8Problem: Error, CustomStringConvertible {
    public let line: Int, column: Int
    public var description: String { "not UTF-8 text (line \(line), column \(column))" }
    /// Without the line, for messages that put it after the file name (`FILE:LINE: …`).
    public var detailAfterLine: String { "not UTF-8 text at column \(column)" }
}
