import Foundation

/// The filters (`value | name(…)`) chat templates use, with jinja2's behaviour.
/// reference: jinja2 3.1 filters.py; transformers' tojson
extension JinjaInterpreter {
    /// Filters Loft implements; a template naming another is refused when parsed.
    static let filterNames: Set<String> = [
        "trim", "length", "count", "tojson", "join", "upper", "lower", "capitalize", "title", "default", "d", "first",
        "last", "list", "string", "int", "float", "abs", "round", "replace", "selectattr", "rejectattr", "select",
        "reject", "map", "items", "unique", "reverse", "sort", "dictsort", "indent", "safe", "e", "escape", "min",
        "max", "sum", "wordcount",
    ]

    func applyFilter(_ name: String, to value: JinjaValue, _ arguments: JinjaArguments) throws -> JinjaValue {
        let (positional, keyword) = try evaluateArguments(arguments)
        func argument(_ index: Int, _ label: String) -> JinjaValue? {
            index < positional.count ? positional[index] : keyword.first { $0.0 == label }?.1
        }
        switch name {
        case "trim":
            let characters: String? = if case .string(let text)? = argument(0, "chars") { text } else { nil }
            return .string(JinjaMethods.strip(value.text, characters: characters, leading: true, trailing: true))
        case "length", "count":
            switch value {
            case .string(let text): return .int(text.unicodeScalars.count)
            case .list(let items), .tuple(let items): return .int(items.count)
            case .dict(let dict): return .int(dict.keys.count)
            case .undefined: return .int(0)
            default: throw JinjaError(line: 0, "object of type '\(value.typeName)' has no len()")
            }
        case "tojson": return .string(try JinjaJSON.encode(value, try JinjaJSON.options(positional, keyword)))
        case "join":
            let items = try iterate(value)
            let attribute = argument(1, "attribute")
            let texts = try items.map { element in try attribute.map { try item(element, $0) } ?? element }.map(\.text)
            return .string(texts.joined(separator: argument(0, "d")?.text ?? ""))
        case "upper": return .string(value.text.uppercased())
        case "lower": return .string(value.text.lowercased())
        case "capitalize", "title": return try JinjaMethods.call(name, on: .string(value.text), [], [], limits: limits)
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            let useFalsy = argument(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (useFalsy && !value.isTruthy) ? fallback : value
        case "first", "last":
            let items = try iterate(value)
            return (name == "first" ? items.first : items.last) ?? .undefined(name)
        case "list": return .list(try iterate(value))
        case "string": return .string(value.text)
        case "int", "float": return try JinjaFilterHelpers.number(name, value, fallback: argument(0, "default"))
        case "abs":
            if case .int(let number) = value, number != Int.min { return .int(abs(number)) }
            guard let number = value.number else { throw JinjaError(line: 0, "bad operand type for abs()") }
            return .double(abs(number))
        case "round":
            guard let number = value.number else { throw JinjaError(line: 0, "round() takes a number") }
            let digits = Double(min(max(argument(0, "precision")?.integer ?? 0, 0), 15))
            let scale = Foundation.pow(10, digits)
            return .double((number * scale).rounded(.toNearestOrAwayFromZero) / scale)
        case "replace":
            guard let old = argument(0, "old"), let new = argument(1, "new") else {
                throw JinjaError(line: 0, "replace takes two arguments")
            }
            let count = argument(2, "count")?.integer ?? -1
            return .string(try JinjaText.replace(value.text, old.text, new.text, count: count, limits))
        case "selectattr", "rejectattr", "select", "reject":
            return .list(value.isTruthy ? try select(name, value, positional) : [])
        case "map": return .list(value.isTruthy ? try map(value, positional, keyword) : [])
        case "items":
            if case .undefined = value { return .list([]) }
            guard case .dict(let dict) = value else { throw JinjaError(line: 0, "items filter takes a dict") }
            return .list(dict.entries.map { .tuple([$0.0, $0.1]) })
        case "dictsort":
            guard case .dict(let dict) = value else { throw JinjaError(line: 0, "dictsort takes a dict") }
            let pairs = try JinjaFilterHelpers.sorted(dict.entries.map { .tuple([$0.0, $0.1]) }) {
                try self.item($0, .int(0))
            }
            return .list(pairs)
        case "unique":
            var seen: [JinjaValue] = []
            for item in try iterate(value)
            where !seen.contains(where: { JinjaFilterHelpers.foldedKey($0) == JinjaFilterHelpers.foldedKey(item) }) {
                seen.append(item)
            }
            return .list(seen)
        case "reverse":
            if case .string(let text) = value {
                return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed())))
            }
            return .list(try iterate(value).reversed())
        case "sort":
            let attribute = argument(2, "attribute")
            var items = try JinjaFilterHelpers.sorted(try iterate(value)) { item in
                try attribute.map { try self.item(item, $0) } ?? item
            }
            if argument(0, "reverse")?.isTruthy ?? false { items.reverse() }
            return .list(items)
        case "indent":
            return .string(
                JinjaFilterHelpers.indent(
                    value.text, width: argument(0, "width") ?? .int(4),
                    first: argument(1, "first")?.isTruthy ?? false, blank: argument(2, "blank")?.isTruthy ?? false))
        case "safe": return value
        case "e", "escape": return .string(JinjaFilterHelpers.escapeHTML(value.text))
        case "min", "max":
            let items = try JinjaFilterHelpers.sorted(try iterate(value)) { $0 }
            return (name == "min" ? items.first : items.last) ?? .undefined(name)
        case "sum":
            var total: JinjaValue = argument(1, "start") ?? .int(0)
            for item in try iterate(value) { total = try JinjaOperators.binary("+", total, item, limits: limits) }
            return total
        case "wordcount":
            return .int(
                value.text.unicodeScalars.split(whereSeparator: {
                    !$0.properties.isAlphabetic && $0.properties.numericType == nil && $0 != "_"
                }).count)
        default:
            throw JinjaError(line: 0, "no filter named '\(name)' in Loft's Jinja")
        }
    }

    private func select(_ name: String, _ value: JinjaValue, _ positional: [JinjaValue]) throws -> [JinjaValue] {
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var arguments = positional[...]
        let attribute = byAttribute ? arguments.popFirst() : nil
        let testName: String? = if case .string(let test)? = arguments.popFirst() { test } else { nil }
        return try iterate(value).filter { element in
            let subject = try attribute.map { try self.attribute(element, $0.text) } ?? element
            let passed = try testName.map { try applyTest($0, to: subject, Array(arguments)) } ?? subject.isTruthy
            return passed == keep
        }
    }

    private func map(_ value: JinjaValue, _ positional: [JinjaValue], _ keyword: [(String, JinjaValue)]) throws
        -> [JinjaValue]
    {
        let items = try iterate(value)
        if let attribute = keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = keyword.first { $0.0 == "default" }?.1
            return try items.map { item in
                let found = try self.item(item, attribute)
                return found.isUndefined ? (fallback ?? found) : found
            }
        }
        guard case .string(let filter)? = positional.first else {
            throw JinjaError(line: 0, "map() takes a filter name")
        }
        guard Self.filterNames.contains(filter) else {
            throw JinjaError(line: 0, "no filter named '\(filter)' in Loft's Jinja")
        }
        let rest = JinjaArguments(positional: positional.dropFirst().map { .literal($0) }, keyword: [])
        return try items.map { try applyFilter(filter, to: $0, rest) }
    }

    func applyTest(_ name: String, to value: JinjaValue, _ arguments: [JinjaValue]) throws -> Bool {
        try JinjaBuiltins.test(name, value, arguments)
    }
}

/// Helpers of the filters that are plain functions of values.
enum JinjaFilterHelpers {
    /// The sort key of jinja2's case-insensitive filters: strings lowercased.
    static func foldedKey(_ value: JinjaValue) -> JinjaValue {
        if case .string(let text) = value { return .string(text.lowercased()) }
        return value
    }

    /// `items` sorted (stably) by `key`, strings compared case-insensitively.
    static func sorted(_ items: [JinjaValue], key: (JinjaValue) throws -> JinjaValue) throws -> [JinjaValue] {
        let keyed = try items.map { (foldedKey(try key($0)), $0) }
        var failure: Error?
        let result = keyed.enumerated().sorted { a, b in
            do {
                let order = try JinjaOperators.ordering(a.element.0, b.element.0)
                return order != 0 ? order < 0 : a.offset < b.offset
            } catch {
                failure = error
                return a.offset < b.offset
            }
        }
        if let failure { throw failure }
        return result.map(\.element.1)
    }

    static func number(_ name: String, _ value: JinjaValue, fallback: JinjaValue?) throws -> JinjaValue {
        switch value {
        case .int(let number): return name == "int" ? .int(number) : .double(Double(number))
        case .bool(let flag): return name == "int" ? .int(flag ? 1 : 0) : .double(flag ? 1 : 0)
        case .double(let number):
            guard name == "int" else { return value }
            guard number.isFinite, abs(number) < 9e18 else {
                throw JinjaError(line: 0, "int(): \(number) is out of range")
            }
            return .int(Int(number))
        case .string(let text):
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if name == "int", let number = Int(trimmed) { return .int(number) }
            if let number = Double(trimmed) {
                return try self.number(name, .double(number), fallback: fallback)
            }
        default: break
        }
        return fallback ?? (name == "int" ? .int(0) : .double(0))
    }

    /// jinja2's `indent(width, first, blank)`.
    static func indent(_ text: String, width: JinjaValue, first: Bool, blank: Bool) -> String {
        let indention: String
        if case .string(let prefix) = width {
            indention = prefix
        } else {
            indention = String(repeating: " ", count: min(max(width.integer ?? 4, 0), 256))
        }
        var lines = (text + "\n").components(separatedBy: "\n")
        lines.removeLast()
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indention)
        } else {
            result = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty { result += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        return first ? indention + result : result
    }

    /// markupsafe's escape.
    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&#39;")
            .replacingOccurrences(of: "\"", with: "&#34;")
    }
}
