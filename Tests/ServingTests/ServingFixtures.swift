import Autograd
import Formats
import Foundation
import Llama
import LoRA
import Recipes
import Serving
import XCTest
import _TestSupport

/// stories260K (llama2.c, SentencePiece) as the tests serve it, with a chat template from the
/// checked-in templates (the model has none of its own).
enum StoriesServing {
    static var model: String { get throws { try Fixtures.data("models/stories260K/stories260K.bin") } }
    static var tokenizer: String { get throws { try Fixtures.data("models/stories260K/tok512.model") } }
    static var template: String {
        get throws { try Fixtures.resource("chat-templates/meta-llama-Llama-2-7b-chat.jinja") }
    }

    /// The served models: the base, and `adapters` (name, folder).
    static func served(adapters: [(name: String, path: String)] = []) throws -> ServedModels {
        try ServedModels(
            model: try model, name: "stories", tokenizer: try tokenizer, adapters: adapters,
            chatTemplate: try template)
    }

    /// A PEFT adapter on q, k, v, o with random A and B (as if trained), written to `folder`.
    static func writeAdapter(to folder: URL, seed: UInt64) throws {
        let loaded = try ModelLoader.load(model: try model, tokenizer: try tokenizer)
        let trained = loaded.model.sharingFrozenWeights()
        var rng = RandomState(seed: seed)
        for block in trained.blocks {
            for module in [LinearModule.q, .k, .v, .o] {
                let base = block[module]
                block[module] = LoRALinear(
                    base: base, a: rng.uniform(count: 4 * base.inFeatures, low: -0.5, high: 0.5),
                    b: rng.uniform(count: base.outFeatures * 4, low: -0.5, high: 0.5), rank: 4, alpha: 8)
            }
        }
        let config = AdapterConfig(
            initialization: .gaussian, rank: 4, alpha: 8, targetModules: [.q, .k, .v, .o], bits: nil, iterations: 0,
            base: try model)
        try AdapterFiles.writeForPEFT(model: trained, config: config, to: folder)
    }

    /// What `loft generate` prints after the prompt (its own code path), greedy.
    static func generate(
        _ loaded: ModelLoader.Loaded, prompt: String, maxNewTokens: Int, chat: Bool = false
    ) throws -> String {
        var options = TextGeneration.Options(maxNewTokens: maxNewTokens, temperature: 0, topP: 1, seed: 0, chat: chat)
        options.echo = false
        if chat { options.chatTemplate = try template }
        var text = ""
        _ = try TextGeneration.run(loaded, prompt: prompt, options: options) { text += $0 }
        return text
    }
}

/// A `loft serve` running in this process on a free loopback port; stopped when the test ends.
final class RunningServer {
    let server: LoftServer
    let port: Int
    let client: HTTPTestClient
    private let finished = DispatchSemaphore(value: 0)

    init(_ served: ServedModels, options: ServeOptions = ServeOptions(), testCase: XCTestCase) throws {
        var options = options
        options.port = 0
        let bound = PortBox()
        server = LoftServer(served: served, options: options, execution: .fp32, handleSignals: false) { _, port in
            bound.set(port)
        }
        let (server, finished) = (self.server, self.finished)
        Task.detached {
            try? await server.run()
            finished.signal()
        }
        port = try bound.wait()
        client = HTTPTestClient(port: port)
        testCase.addTeardownBlock { [self] in stop() }
    }

    /// Drains and stops the server; returns once `run()` has returned.
    func stop() {
        let server = self.server
        Task.detached { await server.shutdown() }
        _ = finished.wait(timeout: .now() + 30)
    }

    private final class PortBox: @unchecked Sendable {
        private let ready = DispatchSemaphore(value: 0)
        private var port = 0
        func set(_ value: Int) {
            port = value
            ready.signal()
        }
        func wait() throws -> Int {
            guard ready.wait(timeout: .now() + 30) == .success else { throw HTTPTestClient.Failure.timedOut }
            return port
        }
    }
}
