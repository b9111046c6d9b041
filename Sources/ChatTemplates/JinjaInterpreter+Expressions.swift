import Foundation

/// Expression evaluation with Python's operators as jinja2 applies them.
/// reference: jinja2 3.1 runtime.py (Undefined), sandbox.py (ImmutableSandboxedEnvironment)
extension JinjaInterpreter {
    func evaluate(_ expression: JinjaExpression) throws -> JinjaValue {
        try step()
        switch expression {
        case .literal(let value): return value
        case .name(let name): return lookup(name)
        case .list(let items): return try nested(.list(try items.map(evaluate)))
        case .tuple(let items): return try nested(.tuple(try items.map(evaluate)))
        case .dict(let pairs):
            var dict = JinjaDict()
            for (keyExpression, valueExpression) in pairs {
                let key = try evaluate(keyExpression)
                guard JinjaDict.isHashable(key) else { throw JinjaError(line: 0, "unhashable type: '\(key.typeName)'") }
                dict[value: key] = try evaluate(valueExpression)
            }
            return try nested(.dict(dict))
        case .attribute(let object, let name): return try attribute(try evaluate(object), name)
        case .subscript(let object, let index): return try item(try evaluate(object), try evaluate(index))
        case .slice(let object, let start, let stop, let stepExpression):
            return try slice(
                try evaluate(object), start: try start.map(evaluate), stop: try stop.map(evaluate),
                step: try stepExpression.map(evaluate))
        case .call(let callee, let arguments): return try call(callee, arguments)
        case .filter(let value, let name, let arguments):
            return try applyFilter(name, to: try evaluate(value), arguments)
        case .test(let value, let name, let arguments, let negated):
            let result = try applyTest(name, to: try evaluate(value), try evaluateArguments(arguments).positional)
            return .bool(result != negated)
        case .unary(let op, let operand):
            let value = try evaluate(operand)
            if op == "not" { return .bool(!value.isTruthy) }
            switch value {
            case .int(let number) where op == "-":
                guard number != Int.min else { throw JinjaError(line: 0, "integer overflow") }
                return .int(-number)
            case .int, .bool, .double:
                let number = value.number ?? 0
                return op == "-" ? .double(-number) : (value.integer.map { .int($0) } ?? .double(number))
            default: throw JinjaError(line: 0, "bad operand type for unary \(op): '\(value.typeName)'")
            }
        case .binary(let op, let left, let right):
            return try JinjaOperators.binary(op, try evaluate(left), try evaluate(right), limits: limits)
        case .logical(let op, let left, let right):
            let first = try evaluate(left)
            if op == "and" { return first.isTruthy ? try evaluate(right) : first }
            return first.isTruthy ? first : try evaluate(right)
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for (op, rightExpression) in operations {
                let right = try evaluate(rightExpression)
                guard try JinjaOperators.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let items):
            let parts = try items.map { try evaluate($0).text }
            try JinjaOperators.checkLength(parts.reduce(0) { $0 + $1.utf8.count }, limit: limits.maxOutputBytes)
            return .string(parts.joined())
        case .conditional(let condition, let value, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(value) }
            return try otherwise.map(evaluate) ?? .undefined("conditional")
        }
    }

    /// `value`, a container just built, when it nests at most `maxNesting` deep. Each item looked
    /// at counts as a step, so a template nesting values in a loop ends on the step limit or here,
    /// never on the stack (printing, comparing or freeing a value recurses through its nesting).
    func nested(_ value: JinjaValue) throws -> JinjaValue {
        func depth(_ value: JinjaValue, _ level: Int) throws -> Int {
            guard level <= Self.maxNesting else {
                throw JinjaError(line: 0, "values nested deeper than \(Self.maxNesting) levels")
            }
            var deepest = level
            switch value {
            case .list(let items), .tuple(let items):
                for item in items {
                    try step()
                    deepest = max(deepest, try depth(item, level + 1))
                }
            case .dict(let dict):
                for (_, item) in dict.entries {
                    try step()
                    deepest = max(deepest, try depth(item, level + 1))
                }
            case .namespace(let namespace):
                for (_, item) in namespace.attributes.entries {
                    try step()
                    deepest = max(deepest, try depth(item, level + 1))
                }
            default: break
            }
            return deepest
        }
        _ = try depth(value, 0)
        return value
    }

    static let maxNesting = 64

    func evaluateArguments(_ arguments: JinjaArguments) throws -> (
        positional: [JinjaValue], keyword: [(String, JinjaValue)]
    ) {
        (try arguments.positional.map(evaluate), try arguments.keyword.map { ($0.0, try evaluate($0.1)) })
    }

    /// `object.name`: a dict's key, a namespace's attribute, else undefined; looking into an
    /// undefined value is an error (jinja2's default Undefined).
    func attribute(_ object: JinjaValue, _ name: String) throws -> JinjaValue {
        switch object {
        case .dict(let dict): return dict[name] ?? .undefined(name)
        case .namespace(let namespace): return namespace.attributes[name] ?? .undefined(name)
        case .undefined(let missing): throw JinjaError(line: 0, "'\(missing)' is undefined (reading '.\(name)')")
        default: return .undefined(name)
        }
    }

    /// `object[index]`: list and string positions (negative from the end), dict keys; a missing
    /// one is undefined.
    func item(_ object: JinjaValue, _ index: JinjaValue) throws -> JinjaValue {
        switch (object, index) {
        case (.list(let items), _), (.tuple(let items), _):
            guard let position = index.integer else { return .undefined("item") }
            let resolved = position < 0 ? items.count + position : position
            return items.indices.contains(resolved) ? items[resolved] : .undefined("item \(position)")
        case (.string(let text), _):
            guard let position = index.integer else { return .undefined("item") }
            let scalars = Array(text.unicodeScalars)
            let resolved = position < 0 ? scalars.count + position : position
            return scalars.indices.contains(resolved) ? .string(String(scalars[resolved])) : .undefined("item")
        case (.dict(let dict), _): return dict[value: index] ?? .undefined("item")
        case (.namespace, .string(let key)): return try attribute(object, key)
        case (.undefined(let missing), _): throw JinjaError(line: 0, "'\(missing)' is undefined (reading an item)")
        default: return .undefined("item")
        }
    }

    /// `object[start:stop:step]` with Python's rules.
    func slice(_ object: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws -> JinjaValue {
        func bound(_ value: JinjaValue?) throws -> Int? {
            guard let value, !(value == .none) else { return nil }
            guard let number = value.integer else { throw JinjaError(line: 0, "slice indices must be integers") }
            return number
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw JinjaError(line: 0, "slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ value: Int?, _ fallback: Int) -> Int {
                guard var value else { return fallback }
                if value < 0 { value += count }
                return stride > 0 ? min(max(value, 0), count) : min(max(value, -1), count - 1)
            }
            let first = clamp(try bound(start), stride > 0 ? 0 : count - 1)
            let last = clamp(try bound(stop), stride > 0 ? count : -1)
            return Array(Swift.stride(from: first, to: last, by: stride))
        }
        switch object {
        case .list(let items): return .list(try indices(items.count).map { items[$0] })
        case .tuple(let items): return .tuple(try indices(items.count).map { items[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            var result = String.UnicodeScalarView()
            for index in try indices(scalars.count) { result.append(scalars[index]) }
            return .string(String(result))
        case .undefined(let missing): throw JinjaError(line: 0, "'\(missing)' is undefined (slicing it)")
        default: throw JinjaError(line: 0, "'\(object.typeName)' object is not subscriptable")
        }
    }

    /// A call: a method of a value (`text.strip()`), a macro, or a global function.
    func call(_ callee: JinjaExpression, _ arguments: JinjaArguments) throws -> JinjaValue {
        let values = try evaluateArguments(arguments)
        if case .attribute(let objectExpression, let name) = callee {
            let object = try evaluate(objectExpression)
            if case .namespace = object {
                return try callValue(try attribute(object, name), values)
            }
            if case .dict(let dict) = object, let value = dict[name], case .macro = value {
                return try callValue(value, values)
            }
            return try JinjaMethods.call(name, on: object, values.positional, values.keyword, limits: limits)
        }
        return try callValue(try evaluate(callee), values)
    }

    func callValue(_ callee: JinjaValue, _ values: (positional: [JinjaValue], keyword: [(String, JinjaValue)]))
        throws -> JinjaValue
    {
        switch callee {
        case .macro(let macro): return try callMacro(macro, values.positional, values.keyword)
        case .function(let name):
            return try nested(try JinjaBuiltins.call(name, values.positional, values.keyword, limits: limits))
        case .undefined(let name): throw JinjaError(line: 0, "'\(name)' is undefined (called as a function)")
        default: throw JinjaError(line: 0, "'\(callee.typeName)' object is not callable")
        }
    }

    private func callMacro(_ macro: JinjaMacro, _ positional: [JinjaValue], _ keyword: [(String, JinjaValue)]) throws
        -> JinjaValue
    {
        guard positional.count <= macro.parameters.count else {
            throw JinjaError(line: 0, "macro '\(macro.name)' takes not more than \(macro.parameters.count) arguments")
        }
        guard callDepth < limits.maxCallDepth else {
            throw JinjaError(line: 0, "macro calls nested deeper than \(limits.maxCallDepth)")
        }
        let saved = frames
        frames = [frames[0], frames[1], [:]]
        callDepth += 1
        defer {
            frames = saved
            callDepth -= 1
        }
        for (index, parameter) in macro.parameters.enumerated() {
            if index < positional.count {
                assign(parameter.name, positional[index])
            } else if let value = keyword.first(where: { $0.0 == parameter.name })?.1 {
                assign(parameter.name, value)
            } else if let defaultValue = parameter.defaultValue {
                assign(parameter.name, try evaluate(defaultValue))
            } else {
                assign(parameter.name, .undefined(parameter.name))
            }
        }
        for (name, _) in keyword where !macro.parameters.contains(where: { $0.name == name }) {
            throw JinjaError(line: 0, "macro '\(macro.name)' takes no keyword argument '\(name)'")
        }
        return .string(try capture(macro.body))
    }
}
