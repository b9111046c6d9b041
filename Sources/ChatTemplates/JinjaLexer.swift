/// A template's error: where (line of the template) and what.
public struct JinjaError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The template line (1-based), 0 when unknown.
    public let line: Int
    public let message: String
    /// True when the template itself raised (`raise_exception`), not when Loft refused it.
    public let raisedByTemplate: Bool

    /// An error at `line`.
    public init(line: Int, _ message: String, raisedByTemplate: Bool = false) {
        (self.line, self.message, self.raisedByTemplate) = (line, message, raisedByTemplate)
    }

    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

/// A token of a template: text between tags, tag delimiters, and the tokens inside tags.
struct JinjaToken: Equatable {
    enum Kind: Equatable {
        case text(String)
        case blockStart, blockEnd, variableStart, variableEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case end
    }
    let kind: Kind
    let line: Int
}

/// Splits a template into tokens with jinja2's whitespace control as transformers configures it:
/// `{%-`/`-%}` strip whitespace around a tag, `trim_blocks` drops the newline after a block or
/// comment tag, `lstrip_blocks` the indentation before one (`{%+` keeps it); one trailing newline
/// of the template is dropped (`keep_trailing_newline` off).
/// reference: jinja2 3.1 lexer.py (tokeniter, lstrip_blocks handling)
struct JinjaLexer {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var tokens: [JinjaToken] = []

    /// Tokens of `source`.
    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if text.hasSuffix("\n") { text.removeLast() }
        var lexer = JinjaLexer(bytes: Array(text.utf8))
        try lexer.run()
        return lexer.tokens
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func run() throws {
        var stripLeading = false, trimNewline = false
        while index < bytes.count {
            let tagStart = nextTag(from: index)
            var text = Array(bytes[index..<(tagStart ?? bytes.count)])
            // As jinja2's `line_starting`: the previous tag's end consumed a newline.
            var textStartsLine = index == 0
            if stripLeading {
                let kept = Array(text.drop(while: Self.isSpace))
                textStartsLine = kept.count < text.count && text[text.count - kept.count - 1] == UInt8(ascii: "\n")
                text = kept
            } else if trimNewline, text.first == UInt8(ascii: "\n") {
                text.removeFirst()
                textStartsLine = true
            }
            guard let tagStart else {
                emitText(text)
                break
            }
            let kind = bytes[tagStart + 1]
            let modifier = tagStart + 2 < bytes.count ? bytes[tagStart + 2] : 0
            if modifier == UInt8(ascii: "-") {
                while let last = text.last, Self.isSpace(last) { text.removeLast() }
            } else if kind != UInt8(ascii: "{"), modifier != UInt8(ascii: "+") {
                Self.stripIndentation(&text, startsLine: textStartsLine)
            }
            emitText(text)
            line += bytes[index..<tagStart].filter { $0 == UInt8(ascii: "\n") }.count
            index = tagStart + 2 + (modifier == UInt8(ascii: "-") || modifier == UInt8(ascii: "+") ? 1 : 0)
            let closedWithStrip: Bool
            switch kind {
            case UInt8(ascii: "#"): closedWithStrip = try skipComment()
            case UInt8(ascii: "%"): closedWithStrip = try lexTag(block: true)
            default: closedWithStrip = try lexTag(block: false)
            }
            stripLeading = closedWithStrip
            trimNewline = kind != UInt8(ascii: "{")
        }
        tokens.append(JinjaToken(kind: .end, line: line))
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    /// lstrip_blocks: spaces and tabs between the line's start and a block tag are removed.
    private static func stripIndentation(_ text: inout [UInt8], startsLine: Bool) {
        let lineStart = (text.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        guard lineStart > 0 || startsLine, lineStart < text.count else { return }
        if text[lineStart...].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { text.removeSubrange(lineStart...) }
    }

    private mutating func emitText(_ text: [UInt8]) {
        guard !text.isEmpty else { return }
        tokens.append(JinjaToken(kind: .text(String(decoding: text, as: UTF8.self)), line: line))
    }

    /// The index of the next `{{`, `{%` or `{#`.
    private func nextTag(from start: Int) -> Int? {
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "{") {
                let next = bytes[i + 1]
                if next == UInt8(ascii: "{") || next == UInt8(ascii: "%") || next == UInt8(ascii: "#") { return i }
            }
            i += 1
        }
        return nil
    }

    /// Skips to the end of a comment; true when it ends with `-#}`.
    private mutating func skipComment() throws -> Bool {
        var i = index
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "#"), bytes[i + 1] == UInt8(ascii: "}") {
                let strip = i > index && bytes[i - 1] == UInt8(ascii: "-")
                line += bytes[index..<i].filter { $0 == UInt8(ascii: "\n") }.count
                index = i + 2
                return strip
            }
            i += 1
        }
        throw JinjaError(line: line, "unclosed comment: missing '#}'")
    }

    /// Lexes the inside of a `{% %}` or `{{ }}` tag; true when it ends with `-%}` / `-}}`.
    private mutating func lexTag(block: Bool) throws -> Bool {
        tokens.append(JinjaToken(kind: block ? .blockStart : .variableStart, line: line))
        let closer = block ? UInt8(ascii: "%") : UInt8(ascii: "}")
        var depth = 0
        while index < bytes.count {
            let byte = bytes[index]
            if Self.isSpace(byte) {
                if byte == UInt8(ascii: "\n") { line += 1 }
                index += 1
                continue
            }
            if depth == 0, let strip = closes(at: index, closer: closer) {
                index += strip ? 3 : 2
                tokens.append(JinjaToken(kind: block ? .blockEnd : .variableEnd, line: line))
                return strip
            }
            if Self.isNameStart(byte) {
                let start = index
                while index < bytes.count, Self.isNameStart(bytes[index]) || Self.isDigit(bytes[index]) { index += 1 }
                tokens.append(
                    JinjaToken(kind: .name(String(decoding: bytes[start..<index], as: UTF8.self)), line: line))
            } else if Self.isDigit(byte) {
                try lexNumber()
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                try lexString(quote: byte)
            } else {
                let op = lexOperator()
                if op == "(" || op == "[" || op == "{" { depth += 1 }
                if op == ")" || op == "]" || op == "}" { depth = max(0, depth - 1) }
                tokens.append(JinjaToken(kind: .op(op), line: line))
            }
        }
        throw JinjaError(line: line, "unclosed tag: missing '\(block ? "%}" : "}}")'")
    }

    /// nil when no tag end is at `i`; else whether it is the stripping form (`-%}`).
    private func closes(at i: Int, closer: UInt8) -> Bool? {
        func at(_ k: Int, _ byte: UInt8) -> Bool { k < bytes.count && bytes[k] == byte }
        if at(i, closer), at(i + 1, UInt8(ascii: "}")) { return false }
        let marker = at(i, UInt8(ascii: "-")) || at(i, UInt8(ascii: "+"))
        if marker, at(i + 1, closer), at(i + 2, UInt8(ascii: "}")) { return bytes[i] == UInt8(ascii: "-") }
        return nil
    }

    private static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func lexNumber() throws {
        let start = index
        var isFloat = false
        while index < bytes.count, Self.isDigit(bytes[index]) || bytes[index] == UInt8(ascii: "_") { index += 1 }
        if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "."), Self.isDigit(bytes[index + 1]) {
            isFloat = true
            index += 1
            while index < bytes.count, Self.isDigit(bytes[index]) || bytes[index] == UInt8(ascii: "_") { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            var k = index + 1
            if k < bytes.count, bytes[k] == UInt8(ascii: "+") || bytes[k] == UInt8(ascii: "-") { k += 1 }
            if k < bytes.count, Self.isDigit(bytes[k]) {
                isFloat = true
                index = k
                while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
            }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self).replacingOccurrences(of: "_", with: "")
        if isFloat, let value = Double(text) {
            tokens.append(JinjaToken(kind: .float(value), line: line))
        } else if let value = Int(text) {
            tokens.append(JinjaToken(kind: .integer(value), line: line))
        } else {
            throw JinjaError(line: line, "number '\(text)' is out of range")
        }
    }

    private mutating func lexString(quote: UInt8) throws {
        let startLine = line
        index += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars)
            raw.removeAll()
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == quote {
                index += 1
                flush()
                tokens.append(JinjaToken(kind: .string(String(scalars)), line: startLine))
                return
            }
            if byte == UInt8(ascii: "\n") { line += 1 }
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                flush()
                index += 1
                scalars.append(contentsOf: try escape())
                continue
            }
            raw.append(byte)
            index += 1
        }
        throw JinjaError(line: startLine, "unclosed string literal")
    }

    /// The scalars of the escape after a backslash (Python's string escapes).
    private mutating func escape() throws -> [Unicode.Scalar] {
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "n"): return ["\n"]
        case UInt8(ascii: "t"): return ["\t"]
        case UInt8(ascii: "r"): return ["\r"]
        case UInt8(ascii: "0"): return ["\0"]
        case UInt8(ascii: "a"): return ["\u{07}"]
        case UInt8(ascii: "b"): return ["\u{08}"]
        case UInt8(ascii: "f"): return ["\u{0C}"]
        case UInt8(ascii: "v"): return ["\u{0B}"]
        case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): return [Unicode.Scalar(byte)]
        case UInt8(ascii: "\n"): return []
        case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = byte == UInt8(ascii: "x") ? 2 : byte == UInt8(ascii: "u") ? 4 : 8
            guard index + count <= bytes.count,
                let value = UInt32(String(decoding: bytes[index..<(index + count)], as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(value)
            else { throw JinjaError(line: line, "bad \\\(Character(Unicode.Scalar(byte))) escape in a string") }
            index += count
            return [scalar]
        default:
            index -= 1
            return ["\\"]
        }
    }

    private mutating func lexOperator() -> String {
        let pairs = ["//", "**", "==", "!=", "<=", ">="]
        if index + 1 < bytes.count {
            let two = String(decoding: bytes[index..<(index + 2)], as: UTF8.self)
            if pairs.contains(two) {
                index += 2
                return two
            }
        }
        let one = String(decoding: bytes[index..<(index + 1)], as: UTF8.self)
        index += 1
        return one
    }
}
