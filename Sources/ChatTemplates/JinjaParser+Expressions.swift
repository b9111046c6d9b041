/// Expressions, by jinja2's precedence (loosest first): conditional, `or`, `and`, `not`,
/// comparisons and `in`, `+ -`, `~`, `* / // %`, `**`, unary `- +`, then primaries with their
/// attributes, subscripts, calls, filters and tests.
/// reference: jinja2 3.1 parser.py (parse_condexpr … parse_filter_expr)
extension JinjaParser {
    /// An expression, or a tuple of them when separated by commas (`a, b`).
    mutating func parseTuple(conditional: Bool = true) throws -> JinjaExpression {
        let first = conditional ? try parseExpression() : try parseOr()
        guard isOperator(",") else { return first }
        var items = [first]
        while skipOperator(",") {
            if current.kind == .blockEnd || current.kind == .variableEnd || isOperator("=") || isOperator(")") { break }
            items.append(conditional ? try parseExpression() : try parseOr())
        }
        return .tuple(items)
    }

    /// `value if condition else otherwise`, or a simpler expression.
    mutating func parseExpression() throws -> JinjaExpression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("the template nests deeper than \(Self.maxDepth) levels") }
        var value = try parseOr()
        while skipName("if") {
            let condition = try parseOr()
            let otherwise = skipName("else") ? try parseExpression() : nil
            value = .conditional(condition: condition, value: value, otherwise: otherwise)
        }
        return value
    }

    private mutating func parseOr() throws -> JinjaExpression {
        var left = try parseAnd()
        while skipName("or") { left = .logical("or", left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpression {
        var left = try parseNot()
        while skipName("and") { left = .logical("and", left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("the template nests deeper than \(Self.maxDepth) levels") }
        if skipName("not") { return .unary("not", try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpression {
        let first = try parseMath1()
        var operations: [(String, JinjaExpression)] = []
        while true {
            if case .op(let op) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(op) {
                advance()
                operations.append((op, try parseMath1()))
            } else if skipName("in") {
                operations.append(("in", try parseMath1()))
            } else if isName("not"), position + 1 < tokens.count, tokens[position + 1].kind == .name("in") {
                advance()
                advance()
                operations.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? first : .compare(first, operations)
    }

    private mutating func parseMath1() throws -> JinjaExpression {
        var left = try parseConcat()
        while case .op(let op) = current.kind, op == "+" || op == "-" {
            advance()
            left = .binary(op, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> JinjaExpression {
        var items = [try parseMath2()]
        while skipOperator("~") { items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func parseMath2() throws -> JinjaExpression {
        var left = try parsePower()
        while case .op(let op) = current.kind, ["*", "/", "//", "%"].contains(op) {
            advance()
            left = .binary(op, left, try parsePower())
        }
        return left
    }

    private mutating func parsePower() throws -> JinjaExpression {
        var left = try parseUnary(withFilters: true)
        while skipOperator("**") { left = .binary("**", left, try parseUnary(withFilters: true)) }
        return left
    }

    private mutating func parseUnary(withFilters: Bool) throws -> JinjaExpression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("the template nests deeper than \(Self.maxDepth) levels") }
        var node: JinjaExpression
        if skipOperator("-") {
            node = .unary("-", try parseUnary(withFilters: false))
        } else if skipOperator("+") {
            node = .unary("+", try parseUnary(withFilters: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        return withFilters ? try parseFiltersAndTests(node) : node
    }

    private mutating func parsePrimary() throws -> JinjaExpression {
        let token = current
        switch token.kind {
        case .name(let name):
            advance()
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name)
            }
        case .string(let text):
            advance()
            var joined = text
            while case .string(let next) = current.kind {
                joined += next
                advance()
            }
            return .literal(.string(joined))
        case .integer(let value):
            advance()
            return .literal(.int(value))
        case .float(let value):
            advance()
            return .literal(.double(value))
        case .op("("):
            advance()
            if skipOperator(")") { return .tuple([]) }
            let inner = try parseTuple()
            try expectOperator(")")
            return inner
        case .op("["):
            advance()
            var items: [JinjaExpression] = []
            while !skipOperator("]") {
                if !items.isEmpty { try expectOperator(",") }
                if skipOperator("]") { break }
                items.append(try parseExpression())
            }
            return .list(items)
        case .op("{"):
            advance()
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !skipOperator("}") {
                if !pairs.isEmpty { try expectOperator(",") }
                if skipOperator("}") { break }
                let key = try parseExpression()
                try expectOperator(":")
                pairs.append((key, try parseExpression()))
            }
            return .dict(pairs)
        default:
            throw error("unexpected \(describe(token)) in an expression")
        }
    }

    private mutating func parsePostfix(_ start: JinjaExpression) throws -> JinjaExpression {
        var node = start
        while true {
            if skipOperator(".") {
                switch current.kind {
                case .name(let name):
                    advance()
                    node = .attribute(node, name)
                case .integer(let index):
                    advance()
                    node = .subscript(node, .literal(.int(index)))
                default: throw error("expected a name after '.', found \(describe(current))")
                }
            } else if skipOperator("[") {
                node = try parseSubscript(node)
            } else if isOperator("(") {
                node = .call(node, try parseArguments())
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ object: JinjaExpression) throws -> JinjaExpression {
        var parts: [JinjaExpression?] = [nil]
        var isSlice = false
        while !skipOperator("]") {
            if skipOperator(":") {
                isSlice = true
                guard parts.count < 3 else { throw error("a slice takes at most three parts") }
                parts.append(nil)
            } else if parts[parts.count - 1] == nil {
                parts[parts.count - 1] = try parseExpression()
            } else {
                throw error("expected ']' or ':', found \(describe(current))")
            }
        }
        if !isSlice {
            guard let index = parts[0] else { throw error("empty subscript") }
            return .subscript(object, index)
        }
        return .slice(object, start: parts[0], stop: parts[1], step: parts.count > 2 ? parts[2] : nil)
    }

    /// `(a, b, name=c)`
    mutating func parseArguments() throws -> JinjaArguments {
        try expectOperator("(")
        var arguments = JinjaArguments()
        while !skipOperator(")") {
            if !arguments.positional.isEmpty || !arguments.keyword.isEmpty { try expectOperator(",") }
            if skipOperator(")") { break }
            if isOperator("*") || isOperator("**") {
                throw error("*args and **kwargs are not supported by Loft's Jinja")
            }
            if case .name(let name) = current.kind, position + 1 < tokens.count, tokens[position + 1].kind == .op("=") {
                advance()
                advance()
                arguments.keyword.append((name, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else { throw error("a positional argument follows a keyword one") }
                arguments.positional.append(try parseExpression())
            }
        }
        return arguments
    }

    /// `| name(args)` (a dotted name allowed) and the arguments when present.
    mutating func parseFilterName() throws -> (String, JinjaArguments) {
        var name = try expectName()
        while skipOperator(".") { name += "." + (try expectName()) }
        return (name, isOperator("(") ? try parseArguments() : .none)
    }

    private mutating func parseFiltersAndTests(_ start: JinjaExpression) throws -> JinjaExpression {
        var node = start
        while true {
            if skipOperator("|") {
                let (name, arguments) = try parseFilterName()
                node = .filter(node, name: name, arguments)
            } else if skipName("is") {
                let negated = skipName("not")
                var name = try expectName()
                while skipOperator(".") { name += "." + (try expectName()) }
                var arguments = JinjaArguments.none
                if isOperator("(") {
                    arguments = try parseArguments()
                } else if startsTestArgument {
                    if isName("is") { throw error("tests cannot be chained with 'is'") }
                    arguments.positional = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name: name, arguments, negated: negated)
            } else if isOperator("(") {
                node = .call(node, try parseArguments())
            } else {
                return node
            }
        }
    }

    /// Whether the token after a test's name is its one argument (`is divisibleby 3`).
    private var startsTestArgument: Bool {
        switch current.kind {
        case .name(let name): return !["else", "or", "and", "if", "in", "not", "is"].contains(name)
        case .string, .integer, .float: return true
        case .op(let op): return op == "[" || op == "{"
        default: return false
        }
    }
}
