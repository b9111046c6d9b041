/// An expression of a template, as parsed.
/// reference: jinja2 3.1 nodes.py (the expression nodes chat templates use)
public indirect enum JinjaExpression: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpression])
    case tuple([JinjaExpression])
    case dict([(JinjaExpression, JinjaExpression)])
    /// `object.name`
    case attribute(JinjaExpression, String)
    /// `object[index]`
    case `subscript`(JinjaExpression, JinjaExpression)
    /// `object[start:stop:step]`
    case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?)
    case call(JinjaExpression, JinjaArguments)
    case filter(JinjaExpression, name: String, JinjaArguments)
    /// `value is [not] name(arguments)`
    case test(JinjaExpression, name: String, JinjaArguments, negated: Bool)
    case unary(String, JinjaExpression)
    case binary(String, JinjaExpression, JinjaExpression)
    /// `left and right`, `left or right` (short-circuit).
    case logical(String, JinjaExpression, JinjaExpression)
    /// `a == b < c`: chained comparisons.
    case compare(JinjaExpression, [(String, JinjaExpression)])
    /// `a ~ b ~ c`
    case concat([JinjaExpression])
    /// `value if condition else otherwise` (`otherwise` nil: undefined).
    case conditional(condition: JinjaExpression, value: JinjaExpression, otherwise: JinjaExpression?)
}

/// The arguments of a call, filter or test: positional, then keyword.
public struct JinjaArguments: Sendable {
    var positional: [JinjaExpression] = []
    var keyword: [(String, JinjaExpression)] = []
    static let none = JinjaArguments()
}

/// Where a `set` or `for` stores: a name, a namespace attribute, or a tuple of names.
public indirect enum JinjaTarget: Sendable {
    case name(String)
    case attribute(String, String)
    case tuple([JinjaTarget])
}

/// A statement of a template, as parsed.
/// reference: jinja2 3.1 nodes.py (Output, If, For, Assign, AssignBlock, Macro, FilterBlock)
public indirect enum JinjaStatement: Sendable {
    case text(String)
    case output(JinjaExpression)
    case ifChain([(condition: JinjaExpression, body: [JinjaStatement])], otherwise: [JinjaStatement])
    case forLoop(JinjaForLoop)
    case set(JinjaTarget, JinjaExpression)
    /// `{% set name %}…{% endset %}`
    case setBlock(String, [JinjaStatement])
    case macro(JinjaMacro)
    /// `{% filter name %}…{% endfilter %}`
    case filterBlock(name: String, JinjaArguments, [JinjaStatement])
    /// `{% generation %}…{% endgeneration %}` (transformers' marker of assistant text).
    case generation([JinjaStatement])
    case loopBreak
    case loopContinue
}

/// `{% for target in iterable [if condition] %} body {% else %} otherwise {% endfor %}`
public struct JinjaForLoop: Sendable {
    let target: JinjaTarget
    let iterable: JinjaExpression
    let condition: JinjaExpression?
    let body: [JinjaStatement]
    let otherwise: [JinjaStatement]
}
