import ArgumentParser
import Foundation
import Recipes
import Serving

/// `loft serve`: an OpenAI-compatible HTTP server for a model and its adapters.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model and named adapters over OpenAI's HTTP API (chat, completions, models, a chat page).",
        discussion: """
            Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET / (a chat \
            page). Requests decode together (continuous batching); SIGTERM or Ctrl-C finishes the requests in \
            flight, then exits.
            """)

    @Option(
        help:
            "The base: a GGUF file, a Hugging Face folder, a llama2.c .bin file, a loft quantize folder, or a run folder (with its adapter)."
    )
    var model: String

    @Option(
        name: .customLong("adapter"),
        help:
            "NAME=FOLDER: a PEFT adapter folder or a loft run, served as model NAME on the base's weights; repeatable.")
    var adapters: [String] = []

    @Option(help: "A SentencePiece tokenizer.model or a folder with tokenizer.json (default: the model's own).")
    var tokenizer: String?

    @Option(help: "The name the base model is served under (default: its file or folder name).")
    var modelName: String?

    @Option(help: "A Jinja chat template file instead of the model's own.")
    var chatTemplate: String?

    @Option(help: "The address to listen on (loopback by default; 0.0.0.0 exposes the server).")
    var host = "127.0.0.1"

    @Option(help: "The port; 0 lets the system choose (the listening line names it).")
    var port = 8080

    @Option(help: "Require 'Authorization: Bearer KEY' on /v1/ routes (default: LOFT_API_KEY when set).")
    var apiKey: String?

    @Option(help: "The most requests decoding together.")
    var parallel = 8

    @Option(help: "The most requests waiting beyond those (then 429).")
    var queue = 64

    @Option(help: "The largest max_tokens a request may ask for (and a chat request's default).")
    var maxTokens = 1024

    @Option(help: "The largest request body, in bytes.")
    var maxBodyBytes = 1 << 20

    @Option(help: "Seed of the sampling streams of requests that give none.")
    var seed: UInt64 = 0

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard (1...256).contains(parallel) else { throw ValidationError("--parallel must be in 1...256") }
        guard (0...100_000).contains(queue) else { throw ValidationError("--queue must be in 0...100000") }
        guard (1...1 << 20).contains(maxTokens) else { throw ValidationError("--max-tokens must be in 1...1048576") }
        guard (1024...1 << 30).contains(maxBodyBytes) else {
            throw ValidationError("--max-body-bytes must be in 1024...1073741824")
        }
        _ = try parsedAdapters()
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key is empty") }
    }

    /// `NAME=FOLDER` pairs; a name is what clients send as `model`.
    func parsedAdapters() throws -> [(name: String, path: String)] {
        try adapters.map { item in
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex,
                item.index(after: equals) != item.endIndex
            else { throw ValidationError("--adapter '\(item)': expected NAME=FOLDER") }
            return (String(item[..<equals]), String(item[item.index(after: equals)...]))
        }
    }

    func run() throws {
        var options = ServeOptions()
        (options.host, options.port, options.maxTokens, options.maxBodyBytes) = (host, port, maxTokens, maxBodyBytes)
        (options.slots, options.queueLimit, options.seed) = (parallel, queue, seed)
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["LOFT_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let served = try ServedModels(
            model: model, name: modelName, tokenizer: tokenizer, adapters: try parsedAdapters(),
            chatTemplate: chatTemplate)
        for warning in served.warnings { printError("loft: warning: \(warning)") }
        if served.chat == nil { printError("loft: warning: no chat template: /v1/chat/completions answers 400") }
        if options.apiKey == nil && !["127.0.0.1", "localhost", "::1"].contains(host) {
            printError("loft: warning: listening on \(host) without --api-key: anyone who reaches it can use it")
        }
        let listening = ListeningFlag()
        let server = LoftServer(served: served, options: options, execution: .command()) { host, port in
            listening.set()
            printError("loft: serving \(served.names.joined(separator: ", ")) on http://\(host):\(port)")
        }
        let outcome = BlockingTask.run { try await server.run() }
        if case .failure(let error) = outcome {
            guard listening.isSet else {
                throw RecipeError.invalidOption(name: "--port", detail: "cannot listen on \(host):\(port): \(error)")
            }
            throw error
        }
        printError("loft: stopped")
    }
}

/// Whether the server reported that it listens (an error before that is a bind error).
private final class ListeningFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Runs async work to its end from synchronous code (a command's `run`); the calling thread waits.
enum BlockingTask {
    static func run(_ work: @escaping @Sendable () async throws -> Void) -> Result<Void, any Error> {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Task.detached {
            do { try await work() } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return box.result
    }

    private final class ResultBox: @unchecked Sendable {
        var result: Result<Void, any Error> = .success(())
    }
}
