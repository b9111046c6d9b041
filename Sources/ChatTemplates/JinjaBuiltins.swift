import Foundation

/// The global functions and the tests (`is …`) a chat template can use.
/// reference: jinja2 3.1 defaults.py, tests.py; transformers chat_template_utils.py (globals)
enum JinjaBuiltins {
    /// Global functions: jinja2's `range`, `namespace`, `dict`, and transformers'
    /// `raise_exception` and `strftime_now`.
    static let functions: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now"]

    static func call(_ name: String, _ positional: [JinjaValue], _ keyword: [(String, JinjaValue)], limits: JinjaLimits)
        throws -> JinjaValue
    {
        switch name {
        case "range":
            let bounds = try positional.map { value -> Int in
                guard let number = value.integer else { throw JinjaError(line: 0, "range() takes integers") }
                return number
            }
            let (start, stop, step): (Int, Int, Int)
            switch bounds.count {
            case 1: (start, stop, step) = (0, bounds[0], 1)
            case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
            case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
            default: throw JinjaError(line: 0, "range() takes 1 to 3 arguments")
            }
            guard step != 0 else { throw JinjaError(line: 0, "range() step must not be zero") }
            let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
            guard span / Double(abs(step)) <= Double(limits.maxItems) else {
                throw JinjaError(line: 0, "range() longer than \(limits.maxItems) items")
            }
            return .list(Swift.stride(from: start, to: stop, by: step).map { .int($0) })
        case "namespace", "dict":
            var attributes = JinjaDict()
            for value in positional {
                guard case .dict(let dict) = value else {
                    throw JinjaError(line: 0, "\(name)() takes a dict or keyword arguments")
                }
                for (key, item) in dict.pairs { attributes[key] = item }
            }
            for (key, value) in keyword {
                if name == "namespace", key.hasPrefix("_") {
                    throw JinjaError(line: 0, "a namespace attribute may not start with '_' ('\(key)')")
                }
                attributes[key] = value
            }
            return name == "dict" ? .dict(attributes) : .namespace(JinjaNamespace(attributes))
        case "raise_exception":
            throw JinjaError(line: 0, positional.first?.text ?? "raise_exception()", raisedByTemplate: true)
        case "strftime_now":
            guard case .string(let format) = positional.first else {
                throw JinjaError(line: 0, "strftime_now() takes a format string")
            }
            return .string(strftime(format, Date()))
        default:
            throw JinjaError(line: 0, "'\(name)' is undefined (called as a function)")
        }
    }

    /// C's strftime of `date` in local time (Python's `datetime.now().strftime`).
    static func strftime(_ format: String, _ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [Int8](repeating: 0, count: 256)
        let count = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The tests Loft implements (jinja2's that chat templates use).
    static let tests: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false",
        "mapping", "iterable", "sequence", "callable", "equalto", "eq", "==", "ne", "!=", "lt", "<", "gt", ">",
        "le", "<=", "ge", ">=", "in", "odd", "even", "divisibleby", "sameas", "lower", "upper", "escaped",
    ]

    static func test(_ name: String, _ value: JinjaValue, _ arguments: [JinjaValue]) throws -> Bool {
        func argument() throws -> JinjaValue {
            guard let first = arguments.first else { throw JinjaError(line: 0, "the test '\(name)' takes an argument") }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "number": if case .int = value { return true } else { return value.number != nil }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "mapping": if case .dict = value { return true } else { return false }
        case "iterable":
            switch value {
            case .list, .tuple, .dict, .string, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .list, .tuple, .dict, .string: return true
            default: return false
            }
        case "callable":
            switch value {
            case .macro, .function: return true
            default: return false
            }
        case "equalto", "eq", "==": return value == (try argument())
        case "ne", "!=": return value != (try argument())
        case "lt", "<": return try JinjaOperators.ordering(value, try argument()) < 0
        case "gt", ">": return try JinjaOperators.ordering(value, try argument()) > 0
        case "le", "<=": return try JinjaOperators.ordering(value, try argument()) <= 0
        case "ge", ">=": return try JinjaOperators.ordering(value, try argument()) >= 0
        case "in": return try JinjaOperators.contains(try argument(), value)
        case "odd", "even":
            guard let number = value.integer else { throw JinjaError(line: 0, "'\(name)' takes an integer") }
            return (abs(number % 2) == 1) == (name == "odd")
        case "divisibleby":
            guard let number = value.integer, let divisor = try argument().integer, divisor != 0 else {
                throw JinjaError(line: 0, "'divisibleby' takes a non-zero integer")
            }
            return number % divisor == 0
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.none, .none), (.bool(true), .bool(true)), (.bool(false), .bool(false)): return true
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "lower", "upper":
            guard case .string(let text) = value else { return false }
            return name == "lower" ? text == text.lowercased() : text == text.uppercased()
        case "escaped": return false
        default: throw JinjaError(line: 0, "no test named '\(name)' in Loft's Jinja")
        }
    }
}
