import Foundation

/// A parsed Jinja template that renders with jinja2's semantics as transformers' chat templates
/// use them (an immutable sandbox: lists and dicts cannot be changed, namespaces can).
/// reference: jinja2 3.1; transformers utils/chat_template_utils.py (_compile_jinja_template)
public struct JinjaTemplate: Sendable {
    let statements: [JinjaStatement]

    /// Parses `source`; a construct Loft's interpreter does not implement (a statement, filter or
    /// test) is an error naming it, so a template is refused before anything renders.
    public init(_ source: String) throws {
        statements = try JinjaParser.parse(source)
        try JinjaNames.check(statements)
    }

    /// What a render produced: the text and the spans (UTF-8 byte ranges of `text`) written inside
    /// `{% generation %}` blocks.
    public struct Rendered: Sendable {
        public let text: String
        public let generationSpans: [Range<Int>]
    }

    /// Renders with `variables` as the template's globals.
    /// - Parameter limits: bounds on the output and the work, so a hostile template ends.
    public func render(_ variables: [String: JinjaValue], limits: JinjaLimits = JinjaLimits()) throws -> Rendered {
        let interpreter = JinjaInterpreter(globals: variables, limits: limits)
        _ = try interpreter.execute(statements)
        return Rendered(text: interpreter.output, generationSpans: interpreter.generationSpans)
    }
}

/// Bounds on one render.
public struct JinjaLimits: Sendable {
    /// Longest output, in UTF-8 bytes.
    public var maxOutputBytes = 64 << 20
    /// Most statements and expressions evaluated (the real templates of the tests take at most a
    /// few thousand on their conversations).
    public var maxSteps = 2_000_000
    /// Deepest macro call nesting.
    public var maxCallDepth = 64
    /// Longest list or string a `range`, `*` or filter may build.
    public var maxItems = 1 << 22

    /// The defaults.
    public init() {}
}

/// How a statement ended: normally, or by `break`/`continue` inside a loop.
enum JinjaFlow { case normal, breakLoop, continueLoop }

/// Runs a template's statements. One instance per render.
final class JinjaInterpreter {
    var frames: [[String: JinjaValue]]
    var output = ""
    var outputBytes = 0
    var generationSpans: [Range<Int>] = []
    let limits: JinjaLimits
    var steps = 0
    var callDepth = 0
    /// Set while rendering a `{% filter %}` or `{% set %}` block into its own buffer.
    var captures: [String] = []

    init(globals: [String: JinjaValue], limits: JinjaLimits) {
        frames = [globals, [:]]
        self.limits = limits
    }

    func step() throws {
        steps += 1
        if steps > limits.maxSteps { throw JinjaError(line: 0, "the template ran more than \(limits.maxSteps) steps") }
    }

    func write(_ text: String) throws {
        if captures.isEmpty {
            outputBytes += text.utf8.count
            if outputBytes > limits.maxOutputBytes {
                throw JinjaError(line: 0, "the template wrote more than \(limits.maxOutputBytes) bytes")
            }
            output += text
        } else {
            captures[captures.count - 1] += text
            if captures[captures.count - 1].utf8.count > limits.maxOutputBytes {
                throw JinjaError(line: 0, "the template wrote more than \(limits.maxOutputBytes) bytes")
            }
        }
    }

    /// The text `body` writes, captured instead of output.
    func capture(_ body: [JinjaStatement]) throws -> String {
        captures.append("")
        defer { captures.removeLast() }
        _ = try execute(body)
        return captures[captures.count - 1]
    }

    func lookup(_ name: String) -> JinjaValue {
        for frame in frames.reversed() { if let value = frame[name] { return value } }
        if JinjaBuiltins.functions.contains(name) { return .function(name) }
        return .undefined(name)
    }

    func assign(_ name: String, _ value: JinjaValue) { frames[frames.count - 1][name] = value }

    func execute(_ statements: [JinjaStatement]) throws -> JinjaFlow {
        for statement in statements {
            try step()
            switch statement {
            case .text(let text): try write(text)
            case .output(let expression): try write(try evaluate(expression).text)
            case .ifChain(let branches, let otherwise):
                var chosen = otherwise
                for branch in branches where try evaluate(branch.condition).isTruthy {
                    chosen = branch.body
                    break
                }
                let flow = try execute(chosen)
                if flow != .normal { return flow }
            case .forLoop(let loop): try executeFor(loop)
            case .set(let target, let expression): try bind(target, try evaluate(expression))
            case .setBlock(let name, let body): assign(name, .string(try capture(body)))
            case .macro(let macro): assign(macro.name, .macro(macro))
            case .filterBlock(let name, let arguments, let body):
                let text = try capture(body)
                try write(try applyFilter(name, to: .string(text), arguments).text)
            case .generation(let body):
                let start = outputBytes
                let flow = try execute(body)
                if captures.isEmpty { generationSpans.append(start..<outputBytes) }
                if flow != .normal { return flow }
            case .loopBreak: return .breakLoop
            case .loopContinue: return .continueLoop
            }
        }
        return .normal
    }

    private func executeFor(_ loop: JinjaForLoop) throws {
        var items = try iterate(try evaluate(loop.iterable))
        if let condition = loop.condition {
            var kept: [JinjaValue] = []
            for item in items {
                frames.append([:])
                defer { frames.removeLast() }
                try bind(loop.target, item)
                if try evaluate(condition).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try execute(loop.otherwise)
            return
        }
        let count = items.count
        for (index, item) in items.enumerated() {
            frames.append([:])
            defer { frames.removeLast() }
            try bind(loop.target, item)
            let loopInfo: [(String, JinjaValue)] = [
                ("index", .int(index + 1)), ("index0", .int(index)), ("revindex", .int(count - index)),
                ("revindex0", .int(count - index - 1)), ("first", .bool(index == 0)),
                ("last", .bool(index == count - 1)), ("length", .int(count)),
                ("previtem", index > 0 ? items[index - 1] : .undefined("loop.previtem")),
                ("nextitem", index + 1 < count ? items[index + 1] : .undefined("loop.nextitem")),
                ("depth", .int(1)), ("depth0", .int(0)),
            ]
            assign("loop", .dict(JinjaDict(loopInfo)))
            if try execute(loop.body) == .breakLoop { break }
        }
    }

    /// The items a `for` visits: a list's items, a dict's keys, a string's characters.
    func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .list(let items), .tuple(let items): return items
        case .dict(let dict): return dict.keyValues
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw JinjaError(line: 0, "'\(value.typeName)' object is not iterable")
        }
    }

    /// Binds a loop variable (or unpacks a tuple of them) in the innermost frame.
    func bind(_ target: JinjaTarget, _ value: JinjaValue) throws {
        switch target {
        case .name(let name): assign(name, value)
        case .attribute(let object, let attribute):
            guard case .namespace(let namespace) = lookup(object) else {
                throw JinjaError(line: 0, "cannot set '\(attribute)' on '\(object)', which is not a namespace")
            }
            guard !attribute.hasPrefix("_") else {
                throw JinjaError(line: 0, "a namespace attribute may not start with '_' ('\(attribute)')")
            }
            namespace.attributes[attribute] = value
        case .tuple(let targets):
            let items = try iterate(value)
            guard items.count == targets.count else {
                throw JinjaError(line: 0, "cannot unpack \(items.count) values into \(targets.count) names")
            }
            for (target, item) in zip(targets, items) { try bind(target, item) }
        }
    }

}
