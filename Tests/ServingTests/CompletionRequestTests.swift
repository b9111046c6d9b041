import ChatTemplates
import Foundation
import Serving
import XCTest

/// Request bodies read field by field: what is accepted, and each refusal's field and message.
final class CompletionRequestTests: XCTestCase {
    func testReadsAChatRequestWithEveryField() throws {
        let body = """
            {"model": "tuned", "messages": [{"role": "system", "content": "Be brief."},
             {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
             {"role": "developer", "content": "x"}],
             "max_tokens": 12, "temperature": 0.5, "top_p": 0.9, "stop": ["\\n\\n", "END"], "seed": 7,
             "stream": true, "stream_options": {"include_usage": true}, "n": 1, "user": "ignored",
             "presence_penalty": 0, "logprobs": false}
            """
        let request = try CompletionRequest.chat(Data(body.utf8))
        XCTAssertEqual(request.model, "tuned")
        XCTAssertEqual(
            request.input,
            .chat([
                ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi there"),
                ChatMessage(role: "system", content: "x"),
            ]))
        XCTAssertEqual(request.maxTokens, 12)
        XCTAssertEqual(request.temperature, 0.5)
        XCTAssertEqual(request.topP, 0.9)
        XCTAssertEqual(request.stop, ["\n\n", "END"])
        XCTAssertEqual(request.seed, 7)
        XCTAssertTrue(request.stream && request.streamUsage)
    }

    func testDefaultsAndNullsAreNotGiven() throws {
        let request = try CompletionRequest.completion(
            Data(#"{"prompt": ["Once"], "model": null, "max_tokens": null, "stop": "x", "echo": true}"#.utf8))
        XCTAssertEqual(request.input, .text("Once"))
        XCTAssertNil(request.model)
        XCTAssertNil(request.maxTokens)
        XCTAssertEqual(request.temperature, 1)
        XCTAssertEqual(request.stop, ["x"])
        XCTAssertTrue(request.echo)
        XCTAssertFalse(request.stream)
        let negativeSeed = try CompletionRequest.completion(Data(#"{"prompt": "a", "seed": -1}"#.utf8))
        XCTAssertEqual(negativeSeed.seed, UInt64.max)
    }

    /// Each refusal is a 400 that names its field.
    func testRefusalsNameTheirField() {
        let chatCases: [(String, String?, String)] = [
            ("", nil, "empty"),
            ("{", nil, "not valid JSON"),
            ("[1]", nil, "must be a JSON object, not an array"),
            (#"{"messages": "hi"}"#, "messages", "must be an array of messages"),
            (#"{"messages": []}"#, "messages", "empty"),
            ("{}", "messages", "required"),
            (#"{"messages": [1]}"#, "messages[0]", "must be an object"),
            (#"{"messages": [{"content": "x"}]}"#, "messages[0].role", "required"),
            (#"{"messages": [{"role": "tool", "content": "x"}]}"#, "messages[0].role", "expected system"),
            (#"{"messages": [{"role": "user"}]}"#, "messages[0].content", "required"),
            (#"{"messages": [{"role": "user", "content": 3}]}"#, "messages[0].content", "text parts"),
            (
                #"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#, "messages[0].content[0]",
                "text only"
            ),
            (#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}"#, "max_tokens", "an integer"),
            (#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}"#, "max_tokens", "an integer"),
            (#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}"#, "max_tokens", "1..."),
            (#"{"messages": [{"role": "user", "content": "x"}], "temperature": 3}"#, "temperature", "0...2"),
            (#"{"messages": [{"role": "user", "content": "x"}], "temperature": true}"#, "temperature", "a number"),
            (#"{"messages": [{"role": "user", "content": "x"}], "top_p": 0}"#, "top_p", "greater than 0"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stream": 1}"#, "stream", "a boolean"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stop": [1]}"#, "stop", "stop[0]"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]}"#, "stop", "at most 4"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stop": [""]}"#, "stop", "1...256"),
            (#"{"messages": [{"role": "user", "content": "x"}], "n": 2}"#, "n", "one choice"),
            (#"{"messages": [{"role": "user", "content": "x"}], "seed": 1e300}"#, "seed", "an integer"),
            (#"{"messages": [{"role": "user", "content": "x"}], "tools": []}"#, "tools", "not supported"),
            (#"{"messages": [{"role": "user", "content": "x"}], "logprobs": true}"#, "logprobs", "not supported"),
            (
                #"{"messages": [{"role": "user", "content": "x"}], "frequency_penalty": 1}"#, "frequency_penalty",
                "only 0"
            ),
            (#"{"messages": [{"role": "user", "content": "x"}], "model": 5}"#, "model", "a string"),
            (
                #"{"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}"#,
                "stream_options", "only allowed with"
            ),
        ]
        for (body, param, fragment) in chatCases {
            assertRefused(try CompletionRequest.chat(Data(body.utf8)), param: param, fragment: fragment, body: body)
        }
        let completionCases: [(String, String?, String)] = [
            ("{}", "prompt", "required"),
            (#"{"prompt": 3}"#, "prompt", "a string"),
            (#"{"prompt": ["a", "b"]}"#, "prompt", "one prompt per request"),
            (#"{"prompt": [[1, 2]]}"#, "prompt", "prompt[0]"),
            (#"{"prompt": "a", "echo": "yes"}"#, "echo", "a boolean"),
            (#"{"prompt": "a", "best_of": 3}"#, "best_of", "must be 1"),
        ]
        for (body, param, fragment) in completionCases {
            assertRefused(
                try CompletionRequest.completion(Data(body.utf8)), param: param, fragment: fragment, body: body)
        }
    }

    private func assertRefused(
        _ expression: @autoclosure () throws -> CompletionRequest, param: String?, fragment: String, body: String,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try expression(), body, line: line) { error in
            guard let error = error as? APIError else { return XCTFail("\(body): \(error)", line: line) }
            XCTAssertEqual(error.status, 400, body, line: line)
            XCTAssertEqual(error.param, param, body, line: line)
            XCTAssertTrue(error.message.contains(fragment), "\(body): \(error.message)", line: line)
        }
    }
}

/// Stop strings in streamed text: never a part of one released, cut at the earliest.
final class StopStringsTests: XCTestCase {
    func testHoldsBackWhatMayStartAStopAndCutsAtIt() {
        var stops = StopStrings(["END", "\n\n"])
        XCTAssertEqual(stops.feed("Hello E").release, "Hello ")
        XCTAssertEqual(stops.feed("N").release, "")
        let last = stops.feed("Dless")
        XCTAssertEqual(last.release, "")
        XCTAssertTrue(last.stopped)
    }

    func testReleasesAPartialMatchThatFails() {
        var stops = StopStrings(["END"])
        XCTAssertEqual(stops.feed("EN").release, "")
        XCTAssertEqual(stops.feed("x").release, "ENx")
        XCTAssertEqual(stops.feed("E").release, "")
        XCTAssertEqual(stops.flush(), "E")
    }

    func testEarliestStopWins() {
        var stops = StopStrings(["b c", "a"])
        let result = stops.feed("xx b ca")
        XCTAssertEqual(result.release, "xx ")
        XCTAssertTrue(result.stopped)
        var none = StopStrings([])
        XCTAssertEqual(none.feed("END").release, "END")
    }
}
