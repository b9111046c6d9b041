/// Refuses, before rendering, a template naming a filter or test Loft does not implement (jinja2
/// refuses unknown names when it compiles a template, whether or not the branch runs).
enum JinjaNames {
    static func check(_ statements: [JinjaStatement]) throws {
        for statement in statements {
            switch statement {
            case .text, .loopBreak, .loopContinue: break
            case .output(let expression): try check(expression)
            case .ifChain(let branches, let otherwise):
                for branch in branches {
                    try check(branch.condition)
                    try check(branch.body)
                }
                try check(otherwise)
            case .forLoop(let loop):
                try check(loop.iterable)
                if let condition = loop.condition { try check(condition) }
                try check(loop.body)
                try check(loop.otherwise)
            case .set(_, let expression): try check(expression)
            case .setBlock(_, let body), .generation(let body): try check(body)
            case .macro(let macro):
                for case let expression? in macro.parameters.map(\.defaultValue) { try check(expression) }
                try check(macro.body)
            case .filterBlock(let name, let arguments, let body):
                try checkFilter(name)
                try check(arguments)
                try check(body)
            }
        }
    }

    private static func checkFilter(_ name: String) throws {
        guard JinjaInterpreter.filterNames.contains(name) else {
            throw JinjaError(line: 0, "uses the filter '\(name)', which Loft's Jinja does not implement")
        }
    }

    private static func check(_ arguments: JinjaArguments) throws {
        for expression in arguments.positional { try check(expression) }
        for (_, expression) in arguments.keyword { try check(expression) }
    }

    private static func check(_ expression: JinjaExpression) throws {
        switch expression {
        case .literal, .name: break
        case .list(let items), .tuple(let items), .concat(let items): for item in items { try check(item) }
        case .dict(let pairs):
            for (key, value) in pairs {
                try check(key)
                try check(value)
            }
        case .attribute(let object, _): try check(object)
        case .subscript(let object, let index):
            try check(object)
            try check(index)
        case .slice(let object, let start, let stop, let step):
            try check(object)
            for case let part? in [start, stop, step] { try check(part) }
        case .call(let callee, let arguments):
            try check(callee)
            try check(arguments)
        case .filter(let value, let name, let arguments):
            try checkFilter(name)
            try check(value)
            try check(arguments)
        case .test(let value, let name, let arguments, _):
            guard JinjaBuiltins.tests.contains(name) else {
                throw JinjaError(line: 0, "uses the test '\(name)', which Loft's Jinja does not implement")
            }
            try check(value)
            try check(arguments)
        case .unary(_, let operand): try check(operand)
        case .binary(_, let left, let right), .logical(_, let left, let right):
            try check(left)
            try check(right)
        case .compare(let first, let operations):
            try check(first)
            for (_, operand) in operations { try check(operand) }
        case .conditional(let condition, let value, let otherwise):
            try check(condition)
            try check(value)
            if let otherwise { try check(otherwise) }
        }
    }
}
