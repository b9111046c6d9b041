import Foundation

/// The methods of strings, dicts and lists that chat templates call, with Python's behaviour;
/// methods that change a list or dict are refused, as jinja2's immutable sandbox refuses them.
/// reference: Python 3 str/dict/list methods; jinja2 sandbox.py (ImmutableSandboxedEnvironment)
enum JinjaMethods {
    static func call(
        _ name: String, on object: JinjaValue, _ arguments: [JinjaValue], _ keyword: [(String, JinjaValue)],
        limits: JinjaLimits
    ) throws -> JinjaValue {
        func argument(_ index: Int, _ label: String) -> JinjaValue? {
            index < arguments.count ? arguments[index] : keyword.first { $0.0 == label }?.1
        }
        func string(_ index: Int, _ label: String) throws -> String? {
            guard let value = argument(index, label), !(value == .none) else { return nil }
            guard case .string(let text) = value else {
                throw JinjaError(line: 0, "\(name)() takes a string \(label), not \(value.typeName)")
            }
            return text
        }
        switch object {
        case .string(let text):
            return try stringMethod(name, text, argument: argument, string: string, limits: limits)
        case .dict(let dict):
            switch name {
            case "items": return .list(dict.entries.map { .tuple([$0.0, $0.1]) })
            case "keys": return .list(dict.keyValues)
            case "values": return .list(dict.entries.map { $0.1 })
            case "get":
                guard let key = argument(0, "key") else { throw JinjaError(line: 0, "get() takes a key") }
                return dict[value: key] ?? argument(1, "default") ?? .none
            case "pop", "update", "setdefault", "clear", "popitem":
                throw JinjaError(line: 0, "access to attribute '\(name)' of 'dict' object is unsafe")
            default: break
            }
        case .list(let items), .tuple(let items):
            switch name {
            case "index":
                guard let needle = argument(0, "value"), let position = items.firstIndex(of: needle) else {
                    throw JinjaError(line: 0, "list.index(x): x not in list")
                }
                return .int(position)
            case "count": return .int(items.filter { $0 == (argument(0, "value") ?? .none) }.count)
            case "append", "pop", "extend", "insert", "remove", "clear", "sort", "reverse":
                throw JinjaError(line: 0, "access to attribute '\(name)' of 'list' object is unsafe")
            default: break
            }
        case .undefined(let missing):
            throw JinjaError(line: 0, "'\(missing)' is undefined (calling .\(name)())")
        default: break
        }
        throw JinjaError(line: 0, "'\(object.typeName)' object has no attribute '\(name)'")
    }

    private static func stringMethod(
        _ name: String, _ text: String, argument: (Int, String) -> JinjaValue?,
        string: (Int, String) throws -> String?, limits: JinjaLimits
    ) throws -> JinjaValue {
        switch name {
        case "strip", "lstrip", "rstrip":
            return .string(
                strip(
                    text, characters: try string(0, "chars"), leading: name != "rstrip",
                    trailing: name != "lstrip"))
        case "upper": return .string(text.uppercased())
        case "lower": return .string(text.lowercased())
        case "title": return .string(title(text))
        case "capitalize": return .string(capitalize(text))
        case "startswith", "endswith":
            var candidates: [String] = []
            switch argument(0, "prefix") {
            case .string(let one)?: candidates = [one]
            case .list(let many)?, .tuple(let many)?:
                candidates = many.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
            default: throw JinjaError(line: 0, "\(name)() takes a string or a tuple of strings")
            }
            let scalars = Array(text.unicodeScalars)
            return .bool(
                candidates.contains { candidate in
                    let part = Array(candidate.unicodeScalars)
                    return name == "startswith"
                        ? scalars.starts(with: part) : scalars.reversed().starts(with: part.reversed())
                })
        case "split", "rsplit":
            let limit = argument(1, "maxsplit")?.integer ?? -1
            let parts = try split(text, separator: try string(0, "sep"), limit: limit, fromRight: name == "rsplit")
            return .list(parts.map { .string($0) })
        case "splitlines":
            var lines = text.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            return .list(lines.map { .string($0) })
        case "replace":
            guard let old = try string(0, "old"), let new = try string(1, "new") else {
                throw JinjaError(line: 0, "replace() takes two strings")
            }
            return .string(try JinjaText.replace(text, old, new, count: argument(2, "count")?.integer ?? -1, limits))
        case "find", "rfind", "index", "count":
            guard let part = try string(0, "sub") else { throw JinjaError(line: 0, "\(name)() takes a string") }
            let positions = JinjaText.occurrences(of: part, in: text)
            if name == "count" { return .int(positions.count) }
            guard let found = name == "rfind" ? positions.last : positions.first else {
                if name == "index" { throw JinjaError(line: 0, "substring not found") }
                return .int(-1)
            }
            return .int(found)
        case "join":
            guard let items = argument(0, "iterable")?.sequenceItems else {
                throw JinjaError(line: 0, "join() takes a list")
            }
            return .string(items.map(\.text).joined(separator: text))
        case "format": return .string(try JinjaText.format(text, argument: argument))
        case "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower":
            return .bool(JinjaText.classify(name, text))
        default:
            throw JinjaError(line: 0, "'str' object has no attribute '\(name)'")
        }
    }

    /// Python's `strip([chars])` (whitespace when `characters` is nil).
    static func strip(_ text: String, characters: String?, leading: Bool, trailing: Bool) -> String {
        let set = characters.map { Set($0.unicodeScalars) }
        func drop(_ scalar: Unicode.Scalar) -> Bool { set?.contains(scalar) ?? JinjaText.isSpace(scalar) }
        var scalars = Array(text.unicodeScalars)[...]
        if leading { while let first = scalars.first, drop(first) { scalars.removeFirst() } }
        if trailing { while let last = scalars.last, drop(last) { scalars.removeLast() } }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    private static func title(_ text: String) -> String {
        var result = "", previousCased = false
        for character in text {
            let cased = character.isLetter
            result += cased ? (previousCased ? character.lowercased() : character.uppercased()) : String(character)
            previousCased = cased
        }
        return result
    }

    private static func capitalize(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst().lowercased()
    }

    /// Python's `split`/`rsplit`: on runs of whitespace when `separator` is nil (no empty parts),
    /// else on each occurrence; at most `limit` splits when `limit` ≥ 0.
    static func split(_ text: String, separator: String?, limit: Int, fromRight: Bool) throws -> [String] {
        guard let separator else {
            let scalars = Array(text.unicodeScalars)
            let words = whitespaceSplit(fromRight ? scalars.reversed() : scalars, limit: limit)
            return fromRight
                ? words.reversed().map { String(String.UnicodeScalarView($0.reversed())) }
                : words.map { String(String.UnicodeScalarView($0)) }
        }
        guard !separator.isEmpty else { throw JinjaError(line: 0, "empty separator") }
        var parts = text.components(separatedBy: separator)
        if limit >= 0, parts.count > limit + 1 {
            if fromRight {
                let head = parts[0..<(parts.count - limit)].joined(separator: separator)
                parts = [head] + parts.suffix(limit)
            } else {
                let tail = parts[limit...].joined(separator: separator)
                parts = Array(parts.prefix(limit)) + [tail]
            }
        }
        return parts
    }

    /// Words separated by whitespace runs; after `limit` splits (limit ≥ 0) the rest is one word
    /// with its trailing whitespace kept.
    private static func whitespaceSplit(_ scalars: [Unicode.Scalar], limit: Int) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var index = 0
        while index < scalars.count {
            while index < scalars.count, JinjaText.isSpace(scalars[index]) { index += 1 }
            guard index < scalars.count else { break }
            if limit >= 0, words.count == limit {
                words.append(Array(scalars[index...]))
                break
            }
            let start = index
            while index < scalars.count, !JinjaText.isSpace(scalars[index]) { index += 1 }
            words.append(Array(scalars[start..<index]))
        }
        return words
    }
}
