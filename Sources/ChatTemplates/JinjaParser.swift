/// Parses a template's tokens into statements. What chat templates use is covered (`if`/`elif`/
/// `else`, `for` with a filter and `else`, `set` of names, tuples, namespace attributes and blocks,
/// `macro`, `filter` blocks, `break`/`continue`, transformers' `generation`); any other tag is
/// refused with its name.
/// reference: jinja2 3.1 parser.py (statement and expression grammar, operator precedence)
struct JinjaParser {
    var tokens: [JinjaToken]
    var position = 0
    /// Nesting of statements and expressions now (bounded, so the recursive descent cannot
    /// exhaust the stack).
    var depth = 0
    static let maxDepth = 200

    /// The statements of `source`.
    static func parse(_ source: String) throws -> [JinjaStatement] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, _) = try parser.parseBody(until: [])
        return body
    }

    // MARK: - Token access

    var current: JinjaToken { tokens[position] }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    func isOperator(_ op: String) -> Bool { current.kind == .op(op) }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance()
        return true
    }

    mutating func skipOperator(_ op: String) -> Bool {
        guard isOperator(op) else { return false }
        advance()
        return true
    }

    mutating func expectOperator(_ op: String) throws {
        guard skipOperator(op) else { throw error("expected '\(op)', found \(describe(current))") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let name) = current.kind else { throw error("expected a name, found \(describe(current))") }
        advance()
        return name
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw error("expected '%}', found \(describe(current))") }
        advance()
    }

    func error(_ message: String) -> JinjaError { JinjaError(line: current.line, message) }

    func describe(_ token: JinjaToken) -> String {
        switch token.kind {
        case .text: return "text"
        case .blockStart: return "'{%'"
        case .blockEnd: return "'%}'"
        case .variableStart: return "'{{'"
        case .variableEnd: return "'}}'"
        case .name(let name): return "'\(name)'"
        case .string: return "a string"
        case .integer(let value): return "'\(value)'"
        case .float(let value): return "'\(value)'"
        case .op(let op): return "'\(op)'"
        case .end: return "the end of the template"
        }
    }

    // MARK: - Statements

    /// Statements up to one of the `until` tags (consumed, its name returned) or the end.
    mutating func parseBody(until: Set<String>) throws -> ([JinjaStatement], String?) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("the template nests deeper than \(Self.maxDepth) levels") }
        var body: [JinjaStatement] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let text):
                advance()
                body.append(.text(text))
            case .variableStart:
                advance()
                body.append(.output(try parseTuple()))
                guard current.kind == .variableEnd else { throw error("expected '}}', found \(describe(current))") }
                advance()
            case .blockStart:
                advance()
                let name = try expectName()
                if until.contains(name) { return (body, name) }
                body.append(try parseStatement(name))
            case .end:
                if let first = until.first(where: { $0.hasPrefix("end") }) ?? until.sorted().first {
                    throw JinjaError(line: token.line, "missing '{% \(first) %}' before the end of the template")
                }
                return (body, nil)
            default:
                throw error("unexpected \(describe(token))")
            }
        }
    }

    private mutating func parseStatement(_ name: String) throws -> JinjaStatement {
        switch name {
        case "if": return try parseIf()
        case "for": return try parseFor()
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "filter":
            let (filterName, arguments) = try parseFilterName()
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(name: filterName, arguments, body)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return .generation(body)
        case "break", "continue":
            try expectBlockEnd()
            return name == "break" ? .loopBreak : .loopContinue
        default:
            throw JinjaError(line: current.line, "the '{% \(name) %}' statement is not supported by Loft's Jinja")
        }
    }

    private mutating func parseIf() throws -> JinjaStatement {
        var branches: [(condition: JinjaExpression, body: [JinjaStatement])] = []
        var condition = try parseTuple(conditional: false)
        while true {
            try expectBlockEnd()
            let (body, tag) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch tag {
            case "elif":
                condition = try parseTuple(conditional: false)
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expectBlockEnd()
                return .ifChain(branches, otherwise: otherwise)
            default:
                try expectBlockEnd()
                return .ifChain(branches, otherwise: [])
            }
        }
    }

    private mutating func parseFor() throws -> JinjaStatement {
        let target = try parseTarget(allowAttribute: false)
        guard skipName("in") else { throw error("expected 'in' in a for loop, found \(describe(current))") }
        let iterable = try parseTuple(conditional: false)
        let condition = skipName("if") ? try parseExpression() : nil
        if isName("recursive") { throw error("recursive for loops are not supported by Loft's Jinja") }
        try expectBlockEnd()
        let (body, tag) = try parseBody(until: ["endfor", "else"])
        var otherwise: [JinjaStatement] = []
        if tag == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseBody(until: ["endfor"])
        }
        try expectBlockEnd()
        return .forLoop(
            JinjaForLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise))
    }

    private mutating func parseSet() throws -> JinjaStatement {
        let target = try parseTarget(allowAttribute: true)
        if skipOperator("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value)
        }
        guard case .name(let name) = target else { throw error("a block set takes one name") }
        if isOperator("|") { throw error("filters on a block set are not supported by Loft's Jinja") }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(name, body)
    }

    private mutating func parseMacro() throws -> JinjaStatement {
        let name = try expectName()
        try expectOperator("(")
        var parameters: [(name: String, defaultValue: JinjaExpression?)] = []
        while !skipOperator(")") {
            if !parameters.isEmpty { try expectOperator(",") }
            if skipOperator(")") { break }
            let parameter = try expectName()
            parameters.append((parameter, skipOperator("=") ? try parseExpression() : nil))
        }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endmacro"])
        if case .name = current.kind { advance() }  // `{% endmacro name %}`
        try expectBlockEnd()
        return .macro(JinjaMacro(name: name, parameters: parameters, body: body))
    }

    /// A `set` or `for` target: a name, `namespace.attribute`, or names separated by commas.
    private mutating func parseTarget(allowAttribute: Bool) throws -> JinjaTarget {
        var names: [JinjaTarget] = []
        let parenthesized = skipOperator("(")
        repeat {
            let name = try expectName()
            if allowAttribute, skipOperator(".") {
                names.append(.attribute(name, try expectName()))
            } else {
                names.append(.name(name))
            }
        } while skipOperator(",") && !isOperator("=") && !isName("in") && !isOperator(")")
        if parenthesized { try expectOperator(")") }
        return names.count == 1 && !parenthesized ? names[0] : .tuple(names)
    }
}
