import Foundation

/// String helpers with Python's semantics: positions count code points, whitespace is
/// `str.isspace()`'s.
enum JinjaText {
    /// Python's `str.isspace()` for one code point.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
        default: return scalar.properties.isWhitespace
        }
    }

    /// The code-point positions where `part` starts in `text`, not overlapping.
    static func occurrences(of part: String, in text: String) -> [Int] {
        let haystack = Array(text.unicodeScalars), needle = Array(part.unicodeScalars)
        guard !needle.isEmpty else { return Array(0...haystack.count) }
        var positions: [Int] = []
        var index = 0
        while index + needle.count <= haystack.count {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) {
                positions.append(index)
                index += needle.count
            } else {
                index += 1
            }
        }
        return positions
    }

    /// Python's `replace(old, new, count)`.
    static func replace(_ text: String, _ old: String, _ new: String, count: Int, _ limits: JinjaLimits) throws
        -> String
    {
        let positions = occurrences(of: old, in: text)
        let used = count < 0 ? positions : Array(positions.prefix(count))
        let scalars = Array(text.unicodeScalars), oldCount = old.unicodeScalars.count
        let (growth, overflow) = used.count.multipliedReportingOverflow(by: new.utf8.count)
        guard !overflow, growth <= limits.maxOutputBytes else {
            throw JinjaError(line: 0, "replace() would build more than \(limits.maxOutputBytes) bytes")
        }
        var result = String.UnicodeScalarView(), cursor = 0
        for position in used {
            result.append(contentsOf: scalars[cursor..<position])
            result.append(contentsOf: new.unicodeScalars)
            cursor = position + oldCount
        }
        result.append(contentsOf: scalars[min(cursor, scalars.count)...])
        return String(result)
    }

    /// Python's `str.format` for `{}`, `{0}` and `{name}` fields without format specs.
    static func format(_ text: String, argument: (Int, String) -> JinjaValue?) throws -> String {
        var result = "", automatic = 0
        var scalars = Array(text.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            if scalar == "{" {
                if scalars.first == "{" {
                    scalars.removeFirst()
                    result += "{"
                    continue
                }
                guard let close = scalars.firstIndex(of: "}") else {
                    throw JinjaError(line: 0, "format(): single '{' in the format string")
                }
                let field = String(String.UnicodeScalarView(scalars[scalars.startIndex..<close]))
                scalars = scalars[(close + 1)...]
                if field.contains(":") || field.contains("!") || field.contains(".") || field.contains("[") {
                    throw JinjaError(line: 0, "format(): the field '{\(field)}' is not supported by Loft's Jinja")
                }
                let value: JinjaValue?
                if field.isEmpty {
                    value = argument(automatic, "\u{0}")
                    automatic += 1
                } else if let index = Int(field) {
                    value = argument(index, "\u{0}")
                } else {
                    value = argument(Int.max, field)
                }
                guard let value else { throw JinjaError(line: 0, "format(): no argument for '{\(field)}'") }
                result += value.text
            } else if scalar == "}" {
                guard scalars.first == "}" else {
                    throw JinjaError(line: 0, "format(): single '}' in the format string")
                }
                scalars.removeFirst()
                result += "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// Python's `isdigit`, `isalpha`, `isalnum`, `isspace`, `isupper`, `islower` (approximately:
    /// by Unicode properties).
    static func classify(_ name: String, _ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        switch name {
        case "isupper", "islower":
            let cased = scalars.filter { $0.properties.isUppercase || $0.properties.isLowercase }
            guard !cased.isEmpty else { return false }
            return cased.allSatisfy { name == "isupper" ? $0.properties.isUppercase : $0.properties.isLowercase }
        default:
            guard !scalars.isEmpty else { return false }
            return scalars.allSatisfy { scalar in
                let numeric = scalar.properties.numericType != nil
                let alpha = scalar.properties.isAlphabetic
                switch name {
                case "isdigit": return numeric
                case "isalpha": return alpha
                case "isalnum": return alpha || numeric
                default: return isSpace(scalar)
                }
            }
        }
    }
}
