import ChatTemplates
import Foundation
import XCTest
import _TestSupport

/// Every real chat template of llama.cpp's set (and three of Tests/Resources/chat-templates)
/// renders what jinja2 renders, as transformers drives it, on a set of conversations with and
/// without the generation prompt (`expected.json`, made by scripts/references/make-chat-templates.py);
/// a render that raised in jinja2 raises here. A template Loft cannot run must be refused when
/// parsed, naming the construct, and none of the in-scope ones may be.
final class TemplateOracleTests: XCTestCase {
    /// The templates the issue names as in scope: each must render equal to jinja2.
    static let inScope = [
        "meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "meta-llama-Llama-2-7b-chat.jinja", "mistralai-Mistral-7B-Instruct-v0.1.jinja",
        "mistralai-Mistral-Nemo-Instruct-2407.jinja", "Qwen-Qwen2.5-7B-Instruct.jinja",
        "microsoft-Phi-3.5-mini-instruct.jinja", "google-gemma-2-2b-it.jinja", "smollm2-135m-instruct.jinja",
        "HuggingFaceTB-SmolLM3-3B.jinja", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
    ]

    func testEveryTemplateRendersAsJinja2OrIsRefusedByName() throws {
        let expected = try Fixtures.json(try Fixtures.resource("chat-templates/expected.json"))
        let conversations = try XCTUnwrap(expected["conversations"] as? [[[String: String]]])
        let dateString = try XCTUnwrap(expected["date_string"] as? String)
        let templates = try XCTUnwrap(expected["templates"] as? [[String: Any]])
        XCTAssertEqual(templates.count, 73)
        var equal: [String] = [], refused: [String] = [], wrong: [String] = []
        for entry in templates {
            let file = try XCTUnwrap(entry["file"] as? String)
            let folder =
                entry["origin"] as? String == "llama.cpp"
                ? try Fixtures.data("llama.cpp/models/templates") : try Fixtures.resource("chat-templates")
            let source = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            let template: JinjaTemplate
            do {
                template = try JinjaTemplate(source)
            } catch {
                refused.append("\(file): \(error)")
                continue
            }
            var problems: [String] = []
            for render in try XCTUnwrap(entry["renders"] as? [[String: Any]]) {
                let index = try XCTUnwrap(render["conversation"] as? Int)
                let generation = try XCTUnwrap(render["generation_prompt"] as? Bool)
                let messages = JinjaValue.list(
                    conversations[index].map { message in
                        .dict(
                            JinjaDict([
                                ("role", .string(message["role"] ?? "")),
                                ("content", .string(message["content"] ?? "")),
                            ]))
                    })
                let variables: [String: JinjaValue] = [
                    "messages": messages, "tools": .none, "documents": .none,
                    "add_generation_prompt": .bool(generation),
                    "bos_token": .string(entry["bos_token"] as? String ?? ""),
                    "eos_token": .string(entry["eos_token"] as? String ?? ""), "date_string": .string(dateString),
                ]
                let label = "conversation \(index), generation prompt \(generation)"
                do {
                    let text = try template.render(variables).text
                    if let error = render["error"] as? String {
                        problems.append("\(label): jinja2 raised (\(error)), Loft rendered \(text.debugDescription)")
                    } else if let output = render["output"] as? String, output != text {
                        problems.append("\(label): expected \(output.debugDescription), got \(text.debugDescription)")
                    }
                } catch {
                    if render["error"] == nil { problems.append("\(label): Loft raised \(error)") }
                }
            }
            if problems.isEmpty {
                equal.append(file)
            } else {
                wrong.append("\(file): \(problems[0]) (\(problems.count) renders)")
            }
        }
        print("templates equal to jinja2: \(equal.count), refused: \(refused.count), different: \(wrong.count)")
        for line in refused { print("refused \(line)") }
        for line in wrong { print("DIFFERENT \(line)") }
        XCTAssertEqual(wrong, [], "a template renders differently from jinja2 instead of being refused")
        for file in Self.inScope { XCTAssertTrue(equal.contains(file), "\(file) is in scope but not equal") }
    }
}

/// Small templates for the semantics real templates rely on, rendered by jinja2 (`snippets` of
/// expected.json): scoping, loop variables, filters, tests, methods, slicing, whitespace, JSON, errors.
final class TemplateSemanticsTests: XCTestCase {
    func testSnippetsRenderAsJinja2() throws {
        let expected = try Fixtures.json(try Fixtures.resource("chat-templates/expected.json"))
        let messages = try XCTUnwrap(expected["snippet_messages"] as? [[String: String]])
        let snippets = try XCTUnwrap(expected["snippets"] as? [[String: String]])
        XCTAssertGreaterThan(snippets.count, 40)
        let variables: [String: JinjaValue] = [
            "messages": .list(
                messages.map {
                    .dict(JinjaDict([("role", .string($0["role"] ?? "")), ("content", .string($0["content"] ?? ""))]))
                }),
            "tools": .none, "documents": .none, "add_generation_prompt": .bool(false),
        ]
        for snippet in snippets {
            let source = try XCTUnwrap(snippet["source"])
            do {
                let text = try JinjaTemplate(source).render(variables).text
                if let error = snippet["error"] {
                    XCTFail(
                        "\(source.debugDescription): jinja2 raised \(error), Loft rendered \(text.debugDescription)")
                } else {
                    XCTAssertEqual(text, snippet["output"], source.debugDescription)
                }
            } catch {
                if snippet["error"] == nil { XCTFail("\(source.debugDescription): Loft raised \(error)") }
            }
        }
    }
}

/// Hostile templates end with a clear error, not a crash, a hang or all of memory.
final class TemplateLimitsTests: XCTestCase {
    func testDeepNestingGrowthAndLoopsAreBounded() throws {
        let cases = [
            (
                "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}",
                "nests deeper"
            ),
            ("{{ " + String(repeating: "not ", count: 5000) + "x }}", "nests deeper"),
            (String(repeating: "{% if true %}", count: 1000), "nests deeper"),
            (
                "{% set ns = namespace(x=1) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
                "nested deeper"
            ),
            (
                "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                "longer"
            ),
            (
                "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                "longer"
            ),
            ("{{ range(10000000000) }}", "range() longer"),
            ("{{ 'x' * 100000000000 }}", "repetition"),
            ("{% for i in range(4000000) %}{% for j in range(4000000) %}{% endfor %}{% endfor %}", "steps"),
            ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "nested deeper than 64"),
            ("{{ 9223372036854775807 + 1 }}", "overflow"),
            ("{{ x.y }}", "undefined"),
        ]
        for (source, expected) in cases {
            do {
                let text = try JinjaTemplate(source).render(["messages": .list([])]).text
                XCTFail("\(source.prefix(60)): rendered \(text.prefix(60))")
            } catch let error as JinjaError {
                XCTAssertTrue(error.description.contains(expected), "\(source.prefix(60)): \(error)")
            }
        }
    }

    func testRefusedConstructsAreNamed() {
        let cases = [
            ("{{ x | wordwrap }}", "filter 'wordwrap'"), ("{% if x is prime %}{% endif %}", "test 'prime'"),
            ("{% call foo() %}{% endcall %}", "'{% call %}'"), ("{% include 'a' %}", "'{% include %}'"),
            ("{% for x in y recursive %}{% endfor %}", "recursive"), ("{{ f(*args) }}", "*args"),
            ("{% if x %}", "missing '{% endif %}'"), ("{{ 'a' ", "unclosed"), ("{# x", "unclosed comment"),
        ]
        for (source, expected) in cases {
            XCTAssertThrowsError(try JinjaTemplate(source)) {
                XCTAssertTrue("\($0)".contains(expected), "\(source): \($0)")
            }
        }
    }
}
