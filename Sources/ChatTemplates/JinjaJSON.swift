import Foundation

/// `tojson` as transformers defines it: Python's `json.dumps(value, ensure_ascii=False,
/// indent=…, separators=…, sort_keys=…)`, without jinja2's HTML escaping.
/// reference: transformers chat_template_utils.py (tojson); CPython Lib/json/encoder.py
enum JinjaJSON {
    struct Options {
        var indent: String? = nil
        var itemSeparator = ", "
        var keySeparator = ": "
        var sortKeys = false
        var asciiOnly = false
    }

    static func options(_ positional: [JinjaValue], _ keyword: [(String, JinjaValue)]) throws -> Options {
        var options = Options()
        var indent: JinjaValue? = positional.first
        var separators: JinjaValue?
        for (name, value) in keyword {
            switch name {
            case "indent": indent = value
            case "separators": separators = value
            case "sort_keys": options.sortKeys = value.isTruthy
            case "ensure_ascii": options.asciiOnly = value.isTruthy
            default: throw JinjaError(line: 0, "tojson() got an unexpected keyword argument '\(name)'")
            }
        }
        switch indent {
        case .int(let width)?: options.indent = String(repeating: " ", count: min(max(width, 0), 64))
        case .string(let text)?: options.indent = text
        case nil, .none?: break
        default: throw JinjaError(line: 0, "tojson(): indent must be an integer or a string")
        }
        if options.indent != nil { options.itemSeparator = "," }
        if let pair = separators?.sequenceItems, pair.count == 2, case .string(let item) = pair[0],
            case .string(let key) = pair[1]
        {
            (options.itemSeparator, options.keySeparator) = (item, key)
        }
        return options
    }

    static func encode(_ value: JinjaValue, _ options: Options, level: Int = 0) throws -> String {
        guard level < 256 else { throw JinjaError(line: 0, "tojson(): nesting deeper than 256") }
        switch value {
        case .none: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .double(let number):
            if number.isNaN { return "NaN" }
            if number.isInfinite { return number > 0 ? "Infinity" : "-Infinity" }
            return JinjaValue.pythonFloat(number)
        case .string(let text): return quote(text, asciiOnly: options.asciiOnly)
        case .list(let items), .tuple(let items):
            guard !items.isEmpty else { return "[]" }
            return try container("[", "]", items.map { try encode($0, options, level: level + 1) }, options, level)
        case .dict(let dict):
            guard !dict.keyValues.isEmpty else { return "{}" }
            var entries = try dict.entries.map { (try key($0.0), $0.1) }
            if options.sortKeys {
                entries.sort {
                    Array($0.0.unicodeScalars).map(\.value).lexicographicallyPrecedes(
                        Array($1.0.unicodeScalars).map(\.value))
                }
            }
            let members = try entries.map { name, item in
                quote(name, asciiOnly: options.asciiOnly) + options.keySeparator
                    + (try encode(item, options, level: level + 1))
            }
            return try container("{", "}", members, options, level)
        default:
            throw JinjaError(line: 0, "Object of type \(value.typeName) is not JSON serializable")
        }
    }

    /// A key as `json.dumps` writes it: strings as they are, numbers and booleans as JSON text.
    private static func key(_ value: JinjaValue) throws -> String {
        switch value {
        case .string(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .double(let number): return JinjaValue.pythonFloat(number)
        default: throw JinjaError(line: 0, "keys must be str, int, float or bool, not \(value.typeName)")
        }
    }

    private static func container(
        _ open: String, _ close: String, _ members: [String], _ options: Options, _ level: Int
    )
        throws -> String
    {
        guard let indent = options.indent else {
            return open + members.joined(separator: options.itemSeparator) + close
        }
        let inner = "\n" + String(repeating: indent, count: level + 1)
        let outer = "\n" + String(repeating: indent, count: level)
        return open + inner + members.joined(separator: options.itemSeparator + inner) + outer + close
    }

    /// A JSON string literal as Python writes it.
    static func quote(_ text: String, asciiOnly: Bool) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let value = scalar.value - 0x10000
                        result += String(format: "\\u%04x\\u%04x", 0xD800 + (value >> 10), 0xDC00 + (value & 0x3FF))
                    } else {
                        result += String(format: "\\u%04x", scalar.value)
                    }
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
