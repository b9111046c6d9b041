import Autograd
import Foundation
import Fuzzing
import Serving
import XCTest
import _TestSupport

/// Mutated requests (libFuzzer-style edits of valid ones, seeded): each gets a clean answer — a
/// 2xx, or a 4xx with OpenAI's error object — within the time limit, and the server keeps serving.
/// Whole-request mutations (the HTTP framing itself) may be refused by the HTTP layer or closed;
/// they must not hang or stop the server.
final class MalformedRequestTests: XCTestCase {
    static let seeds: [(String, String)] = [
        (
            "/v1/chat/completions",
            #"{"model": "stories", "messages": [{"role": "system", "content": "Be short."}, {"role": "user", "#
                + #""content": [{"type": "text", "text": "Hi"}]}], "max_tokens": 4, "temperature": 0.7, "top_p": 0.9, "#
                + #""stop": ["\n", "END"], "seed": 3, "stream": true, "stream_options": {"include_usage": true}}"#
        ),
        ("/v1/chat/completions", #"{"messages": [{"role": "user", "content": "Once"}], "max_tokens": 3, "n": 1}"#),
        (
            "/v1/completions",
            #"{"model": "stories", "prompt": ["Once upon"], "max_tokens": 4, "echo": true, "seed": 9}"#
        ),
        ("/v1/completions", #"{"prompt": "Lily", "max_tokens": 2, "stream": true, "temperature": 0}"#),
    ]

    func testMutatedRequestsGetCleanAnswers() throws {
        var options = ServeOptions()
        (options.maxTokens, options.maxBodyBytes) = (8, 8192)
        let running = try RunningServer(try StoriesServing.served(), options: options, testCase: self)
        let client = running.client
        var mutator = Mutator(rng: RandomState(seed: 20261206))
        var statuses: [Int: Int] = [:]
        for index in 0..<600 {
            let (path, seed) = Self.seeds[index % Self.seeds.count]
            let body = mutator.mutate(Array(seed.utf8), kind: .text)
            var head = "POST \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
            let response = try client.send(Data(head.utf8) + Data(body), timeout: 20)
            statuses[response.status, default: 0] += 1
            let shown = String(decoding: body, as: UTF8.self)
            XCTAssertTrue([200, 400, 404, 413].contains(response.status), "\(response.status) for \(shown)")
            if response.status != 200 {
                XCTAssertNotNil(response.error("message") as? String, "no error object for \(shown): \(response.text)")
            }
        }
        XCTAssertGreaterThan(statuses[400] ?? 0, 100, "the mutations should mostly be refused: \(statuses)")
        XCTAssertGreaterThan(statuses[200] ?? 0, 10, "some mutations stay valid: \(statuses)")
        for index in 0..<150 {
            let (path, seed) = Self.seeds[index % Self.seeds.count]
            let whole =
                "POST \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: \(seed.utf8.count)\r\n\r\n"
                + seed
            let bytes = mutator.mutate(Array(whole.utf8), kind: .text)
            // Any answer or a closed connection is fine; a hang is not (send times out and throws).
            do {
                _ = try client.send(Data(bytes), timeout: 20)
            } catch HTTPTestClient.Failure.malformed {
                continue
            }
        }
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
    }
}
