import Foundation

/// Python's arithmetic and comparison operators on template values; integer overflow, division
/// by zero and mixed types are errors, as Python raises them (an overflowing Python int would
/// grow instead: Loft refuses it).
enum JinjaOperators {
    static func binary(_ op: String, _ left: JinjaValue, _ right: JinjaValue, limits: JinjaLimits) throws
        -> JinjaValue
    {
        if case .undefined(let name) = left { throw JinjaError(line: 0, "'\(name)' is undefined (used with \(op))") }
        if case .undefined(let name) = right { throw JinjaError(line: 0, "'\(name)' is undefined (used with \(op))") }
        switch (op, left, right) {
        case ("+", .string(let a), .string(let b)):
            try checkLength(a.utf8.count + b.utf8.count, limit: limits.maxOutputBytes)
            return .string(a + b)
        case ("+", .list(let a), .list(let b)):
            try checkLength(a.count + b.count, limit: limits.maxItems)
            return .list(a + b)
        case ("+", .tuple(let a), .tuple(let b)):
            try checkLength(a.count + b.count, limit: limits.maxItems)
            return .tuple(a + b)
        case ("*", .string(let text), _) where right.integer != nil:
            return .string(String(repeating: text, count: try repeatCount(right.integer ?? 0, text.utf8.count, limits)))
        case ("*", _, .string(let text)) where left.integer != nil:
            return .string(String(repeating: text, count: try repeatCount(left.integer ?? 0, text.utf8.count, limits)))
        case ("*", .list(let items), _) where right.integer != nil:
            let count = try repeatCount(right.integer ?? 0, items.count, limits)
            return .list(Array([[JinjaValue]](repeating: items, count: count).joined()))
        default: break
        }
        if let a = left.integer, let b = right.integer { return try integer(op, a, b) }
        guard let a = left.number, let b = right.number else {
            throw JinjaError(
                line: 0, "unsupported operand types for \(op): '\(left.typeName)' and '\(right.typeName)'")
        }
        switch op {
        case "+": return .double(a + b)
        case "-": return .double(a - b)
        case "*": return .double(a * b)
        case "/":
            guard b != 0 else { throw JinjaError(line: 0, "division by zero") }
            return .double(a / b)
        case "//":
            guard b != 0 else { throw JinjaError(line: 0, "division by zero") }
            return .double((a / b).rounded(.down))
        case "%":
            guard b != 0 else { throw JinjaError(line: 0, "modulo by zero") }
            let r = a.truncatingRemainder(dividingBy: b)
            return .double(r != 0 && (r < 0) != (b < 0) ? r + b : r)
        case "**": return .double(Foundation.pow(a, b))
        default: throw JinjaError(line: 0, "unknown operator \(op)")
        }
    }

    /// A string (bytes) or list (items) longer than `limit` is refused.
    static func checkLength(_ length: Int, limit: Int) throws {
        guard length <= limit else { throw JinjaError(line: 0, "a value longer than \(limit) would be built") }
    }

    private static func repeatCount(_ count: Int, _ unit: Int, _ limits: JinjaLimits) throws -> Int {
        let times = max(0, count)
        let (total, overflow) = times.multipliedReportingOverflow(by: max(unit, 1))
        guard !overflow, total <= limits.maxItems else {
            throw JinjaError(line: 0, "a repetition would be longer than \(limits.maxItems) items")
        }
        return times
    }

    private static func integer(_ op: String, _ a: Int, _ b: Int) throws -> JinjaValue {
        let overflow = JinjaError(line: 0, "integer overflow in \(a) \(op) \(b)")
        switch op {
        case "+":
            let (value, over) = a.addingReportingOverflow(b)
            if over { throw overflow }
            return .int(value)
        case "-":
            let (value, over) = a.subtractingReportingOverflow(b)
            if over { throw overflow }
            return .int(value)
        case "*":
            let (value, over) = a.multipliedReportingOverflow(by: b)
            if over { throw overflow }
            return .int(value)
        case "/":
            guard b != 0 else { throw JinjaError(line: 0, "division by zero") }
            return .double(Double(a) / Double(b))
        case "//", "%":
            guard b != 0 else { throw JinjaError(line: 0, op == "%" ? "modulo by zero" : "division by zero") }
            guard !(a == Int.min && b == -1) else { throw overflow }
            var quotient = a / b
            var remainder = a % b
            if remainder != 0, (remainder < 0) != (b < 0) {
                quotient -= 1
                remainder += b
            }
            return .int(op == "//" ? quotient : remainder)
        case "**":
            guard b >= 0 else { return .double(Foundation.pow(Double(a), Double(b))) }
            var result = 1
            for _ in 0..<min(b, 64) {
                let (value, over) = result.multipliedReportingOverflow(by: a)
                if over { throw overflow }
                result = value
            }
            if b > 64, abs(a) > 1 { throw overflow }
            return .int(b > 64 && a == -1 ? (b % 2 == 0 ? 1 : -1) : result)
        default: throw JinjaError(line: 0, "unknown operator \(op)")
        }
    }

    /// `left op right` for the comparison operators and `in`.
    static func compare(_ op: String, _ left: JinjaValue, _ right: JinjaValue) throws -> Bool {
        switch op {
        case "==": return left == right
        case "!=": return left != right
        case "in": return try contains(right, left)
        case "not in": return try !contains(right, left)
        default:
            let order = try ordering(left, right)
            switch op {
            case "<": return order < 0
            case ">": return order > 0
            case "<=": return order <= 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0, 1: numbers by value, strings by code points, lists item by item.
    static func ordering(_ left: JinjaValue, _ right: JinjaValue) throws -> Int {
        if let a = left.number, let b = right.number { return a < b ? -1 : a > b ? 1 : 0 }
        switch (left, right) {
        case (.string(let a), .string(let b)):
            let x = Array(a.unicodeScalars).map(\.value), y = Array(b.unicodeScalars).map(\.value)
            return x.lexicographicallyPrecedes(y) ? -1 : x == y ? 0 : 1
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where x != y { return try ordering(x, y) }
            return a.count < b.count ? -1 : a.count > b.count ? 1 : 0
        default:
            throw JinjaError(line: 0, "'<' not supported between '\(left.typeName)' and '\(right.typeName)'")
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: JinjaValue, _ needle: JinjaValue) throws -> Bool {
        switch container {
        case .string(let text):
            guard case .string(let part) = needle else {
                throw JinjaError(line: 0, "'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return part.isEmpty || text.range(of: part, options: .literal) != nil
        case .list(let items), .tuple(let items): return items.contains(needle)
        case .dict(let dict): return dict[value: needle] != nil
        case .namespace(let namespace):
            guard case .string(let key) = needle else { return false }
            return namespace.attributes[key] != nil
        case .undefined: return false
        default: throw JinjaError(line: 0, "argument of type '\(container.typeName)' is not iterable")
        }
    }
}
