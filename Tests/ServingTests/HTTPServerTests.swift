import Foundation
import Recipes
import Serving
import XCTest
import _TestSupport

/// `loft serve` over real HTTP on a loopback port, stories260K: every route, the streaming
/// format, greedy answers equal to `loft generate`'s, and every refusal as OpenAI's error object.
final class HTTPServerTests: XCTestCase {
    private func chatBody(_ content: String, _ extra: String = "", model: String = "stories") -> String {
        #"{"model": "\#(model)", "messages": [{"role": "user", "content": "\#(content)"}], "temperature": 0"#
            + (extra.isEmpty ? "" : ", " + extra) + "}"
    }

    /// The `data:` events of a server-sent-events body.
    private func events(_ body: String) -> [String] {
        body.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { event in
            XCTAssertTrue(event.hasPrefix("data: "), event)
            return String(event.dropFirst(6))
        }
    }

    func testRoutesAndAnswersEqualGenerate() throws {
        let running = try RunningServer(try StoriesServing.served(), testCase: self)
        let client = running.client
        let health = try client.request("GET", "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json?["status"] as? String, "ok")
        let models = try client.request("GET", "/v1/models")
        XCTAssertEqual((models.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["stories"])
        let page = try client.request("GET", "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["content-type"]?.hasPrefix("text/html") ?? false)
        XCTAssertTrue(page.text.contains("/v1/chat/completions") && !page.text.contains("http://"), "self-contained")

        let loaded = try ModelLoader.load(model: try StoriesServing.model, tokenizer: try StoriesServing.tokenizer)
        // completions: greedy text equals loft generate's
        let completion = try client.request(
            "POST", "/v1/completions", body: #"{"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0}"#)
        XCTAssertEqual(completion.status, 200, completion.text)
        let choice = (completion.json?["choices"] as? [[String: Any]])?.first
        XCTAssertEqual(
            choice?["text"] as? String,
            try StoriesServing.generate(loaded, prompt: "Once upon a time", maxNewTokens: 40))
        XCTAssertEqual(choice?["finish_reason"] as? String, "length")
        XCTAssertEqual(completion.json?["object"] as? String, "text_completion")
        let usage = completion.json?["usage"] as? [String: Int]
        XCTAssertEqual(usage?["completion_tokens"], 40)
        XCTAssertEqual(usage?["total_tokens"], (usage?["prompt_tokens"] ?? 0) + 40)
        // echo puts the prompt first
        let echoed = try client.request(
            "POST", "/v1/completions", body: #"{"prompt": "Lily", "max_tokens": 5, "temperature": 0, "echo": true}"#)
        XCTAssertTrue(
            ((echoed.json?["choices"] as? [[String: Any]])?.first?["text"] as? String ?? "").hasPrefix("Lily"))

        // chat: equals loft generate --chat; the stream's pieces join to the same answer
        let chat = try client.request(
            "POST", "/v1/chat/completions", body: chatBody("Tell a story.", #""max_tokens": 50"#))
        XCTAssertEqual(chat.status, 200, chat.text)
        let message = ((chat.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
        let answer = message?["content"] as? String ?? "?"
        XCTAssertEqual(message?["role"] as? String, "assistant")
        XCTAssertEqual(
            answer, try StoriesServing.generate(loaded, prompt: "Tell a story.", maxNewTokens: 50, chat: true))
        let streamed = try client.request(
            "POST", "/v1/chat/completions",
            body: chatBody(
                "Tell a story.", #""max_tokens": 50, "stream": true, "stream_options": {"include_usage": true}"#))
        XCTAssertEqual(streamed.status, 200)
        XCTAssertEqual(streamed.headers["content-type"], "text/event-stream")
        let data = events(streamed.text)
        XCTAssertEqual(data.last, "[DONE]")
        let chunks = data.dropLast().compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(chunks.count, data.count - 1, "every event but [DONE] is a JSON chunk")
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
        XCTAssertEqual(deltas.first?["role"] as? String, "assistant")
        XCTAssertEqual(deltas.compactMap { $0["content"] as? String }.joined(), answer)
        XCTAssertEqual(
            (chunks[chunks.count - 2]["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String,
            message.flatMap { _ in (chat.json?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String })
        XCTAssertEqual(
            (chunks.last?["usage"] as? [String: Int])?["completion_tokens"],
            (chat.json?["usage"] as? [String: Int])?["completion_tokens"])
        // a stop string cuts the answer before it
        let words = answer.split(separator: " ")
        if words.count > 3 {
            let stop = String(words[2])
            let cut = try client.request(
                "POST", "/v1/chat/completions",
                body: chatBody("Tell a story.", #""max_tokens": 50, "stop": "\#(stop)""#))
            let text = ((cut.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]
            XCTAssertEqual(text as? String, String(answer[..<answer.range(of: stop)!.lowerBound]))
        }
    }

    /// Every refusal: its status, OpenAI's error object, and the server still answering after.
    func testRefusalsAreOpenAIErrors() throws {
        var options = ServeOptions()
        (options.maxBodyBytes, options.maxTokens) = (4096, 64)
        let running = try RunningServer(try StoriesServing.served(), options: options, testCase: self)
        let client = running.client
        let cases: [(String, String, String?, Int, String)] = [
            ("GET", "/v1/nowhere", nil, 404, "not_found_error"),
            ("POST", "/health", "{}", 405, "invalid_request_error"),
            ("GET", "/v1/chat/completions", nil, 405, "invalid_request_error"),
            ("POST", "/v1/chat/completions", "{not json", 400, "invalid_request_error"),
            ("POST", "/v1/chat/completions", #"{"messages": 3}"#, 400, "invalid_request_error"),
            ("POST", "/v1/chat/completions", chatBody("x", model: "gpt-4"), 404, "invalid_request_error"),
            ("POST", "/v1/chat/completions", chatBody("x", #""max_tokens": 65"#), 400, "invalid_request_error"),
            (
                "POST", "/v1/completions", #"{"prompt": "\#(String(repeating: "a b ", count: 600))"}"#, 400,
                "invalid_request_error"
            ),
            ("POST", "/v1/completions", String(repeating: " ", count: 5000), 413, "invalid_request_error"),
        ]
        for (method, path, body, status, type) in cases {
            let response = try client.request(method, path, body: body)
            XCTAssertEqual(response.status, status, "\(method) \(path): \(response.text)")
            XCTAssertEqual(response.error("type") as? String, type, "\(method) \(path): \(response.text)")
            XCTAssertFalse((response.error("message") as? String ?? "").isEmpty)
        }
        let unknown = try client.request("POST", "/v1/chat/completions", body: chatBody("x", model: "gpt-4"))
        XCTAssertEqual(unknown.error("code") as? String, "model_not_found")
        let long = try client.request(
            "POST", "/v1/completions", body: #"{"prompt": "\#(String(repeating: "a b ", count: 600))"}"#)
        XCTAssertEqual(long.error("code") as? String, "context_length_exceeded")
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
    }

    func testAPIKeyGuardsTheAPIOnly() throws {
        var options = ServeOptions()
        options.apiKey = "sekret"
        let running = try RunningServer(try StoriesServing.served(), options: options, testCase: self)
        let client = running.client
        XCTAssertEqual(try client.request("GET", "/v1/models").status, 401)
        let wrong = try client.request("GET", "/v1/models", headers: ["Authorization: Bearer sekreT"])
        XCTAssertEqual(wrong.status, 401)
        XCTAssertEqual(wrong.error("type") as? String, "authentication_error")
        XCTAssertEqual(try client.request("GET", "/v1/models", headers: ["Authorization: Bearer sekret"]).status, 200)
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
        XCTAssertEqual(try client.request("GET", "/").status, 200)
    }

    /// Named adapters: listed, chosen by name, each answering as `loft generate --adapter`.
    func testNamedAdaptersAnswerAsGenerate() throws {
        let folder = try Fixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        try StoriesServing.writeAdapter(to: folder, seed: 3)
        let running = try RunningServer(try StoriesServing.served(adapters: [("tuned", folder.path)]), testCase: self)
        let models = try running.client.request("GET", "/v1/models")
        XCTAssertEqual(
            (models.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, ["stories", "tuned"])
        let tuned = try ModelLoader.load(
            model: try StoriesServing.model, adapter: folder.path, tokenizer: try StoriesServing.tokenizer)
        let response = try running.client.request(
            "POST", "/v1/completions",
            body: #"{"model": "tuned", "prompt": "One day", "max_tokens": 30, "temperature": 0}"#)
        XCTAssertEqual(response.json?["model"] as? String, "tuned")
        XCTAssertEqual(
            (response.json?["choices"] as? [[String: Any]])?.first?["text"] as? String,
            try StoriesServing.generate(tuned, prompt: "One day", maxNewTokens: 30))
        // a path is not a model name
        let byPath = try running.client.request(
            "POST", "/v1/completions", body: #"{"model": "\#(folder.path)", "prompt": "One day"}"#)
        XCTAssertEqual(byPath.status, 404)
    }
}
