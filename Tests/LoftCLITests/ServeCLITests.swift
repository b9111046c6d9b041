import Foundation
import XCTest
import _TestSupport

/// `loft serve` as a process on SmolLM2 (its own chat template): the answer equals
/// `loft generate --chat`'s, a client that disconnects stops its generation, and SIGTERM lets
/// the request in flight finish before the process exits 0.
final class ServeCLITests: XCTestCase {
    private var process: Process!
    private var port = 0
    private var client: HTTPTestClient { HTTPTestClient(port: port) }
    private let stderr = Pipe()

    private var modelPath: String {
        get throws { try Fixtures.data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf") }
    }

    /// Starts the server on a free port and reads the port from its listening line.
    private func start() throws {
        process = Process()
        process.executableURL = loftURL
        process.arguments = ["serve", "--model", try modelPath, "--port", "0", "--model-name", "smol"]
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        addTeardownBlock { [process] in if process?.isRunning == true { process?.terminate() } }
        var seen = ""
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let data = stderr.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: #"http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(seen[range].split(separator: ":").last!)!
                return
            }
        }
        XCTFail("no listening line: \(seen)")
        throw HTTPTestClient.Failure.timedOut
    }

    /// Reads `socket` until `count` server-sent events have arrived (or its end); returns them.
    private func readEvents(_ socket: Int32, count: Int) throws -> String {
        var received = ""
        let deadline = Date().addingTimeInterval(60)
        while received.components(separatedBy: "data: ").count - 1 < count,
            let data = try client.read(socket, deadline: deadline)
        {
            received += String(decoding: data, as: UTF8.self)
        }
        return received
    }

    private func running() throws -> Int {
        try client.request("GET", "/health").json?["running"] as? Int ?? -1
    }

    func testServeAnswersLikeGenerateStopsOnDisconnectAndDrainsOnSIGTERM() throws {
        try start()
        // 1. the chat answer equals loft generate --chat
        let question = "What is the capital of France?"
        let body =
            #"{"model": "smol", "messages": [{"role": "user", "content": "\#(question)"}], "#
            + #""max_tokens": 24, "temperature": 0}"#
        let answer = try client.request("POST", "/v1/chat/completions", body: body)
        XCTAssertEqual(answer.status, 200, answer.text)
        let content =
            ((answer.json?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        let (status, generated, _) = try runLoft([
            "generate", "--model", try modelPath, "--chat", "--prompt", question, "--max-new-tokens", "24",
        ])
        XCTAssertEqual(status, 0)
        XCTAssertEqual(content, generated.hasSuffix("\n") ? String(generated.dropLast()) : generated)

        // 2. a client that goes away: its generation stops (400 tokens would take several seconds)
        let long = #"{"prompt": "Once upon a time", "max_tokens": 400, "temperature": 0, "stream": true}"#
        let request = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(long.utf8.count)\r\n\r\n" + long
        let socket = try client.start(Data(request.utf8))
        _ = try readEvents(socket, count: 2)
        XCTAssertEqual(try running(), 1)
        close(socket)
        let stopBy = Date().addingTimeInterval(3)
        while try running() != 0 && Date() < stopBy { usleep(50_000) }
        XCTAssertEqual(try running(), 0, "the disconnected request still runs")

        // 3. SIGTERM while a stream is in flight: it completes, then the process exits 0
        let short = #"{"prompt": "Once upon a time", "max_tokens": 30, "temperature": 0, "stream": true}"#
        let inFlight = try client.start(
            Data(
                ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(short.utf8.count)\r\n\r\n" + short).utf8
            ))
        _ = try readEvents(inFlight, count: 1)
        kill(process.processIdentifier, SIGTERM)
        let rest = try readEvents(inFlight, count: 1000)
        close(inFlight)
        XCTAssertTrue(rest.contains("data: [DONE]"), "the stream was cut: \(rest.suffix(300))")
        XCTAssertTrue(rest.contains(#""finish_reason":"length""#))
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let log = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(log.contains("loft: stopped"), log)
        XCTAssertThrowsError(try client.request("GET", "/health"), "still listening after exit")
    }
}
