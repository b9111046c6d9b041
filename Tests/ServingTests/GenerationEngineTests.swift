import Autograd
import Foundation
import Llama
import Recipes
import Serving
import XCTest
import _TestSupport

/// The continuous-batching engine on stories260K: requests that join and leave the batch answer
/// as each would alone; adapters side by side answer as their own models; cancel, queue limit.
final class GenerationEngineTests: XCTestCase {
    /// Drains a ticket: the text and the end event.
    private func collect(_ ticket: GenerationTicket) async -> (String, GenerationEvent?) {
        var text = "", end: GenerationEvent? = nil
        for await event in ticket.events {
            if case .text(let piece) = event { text += piece } else { end = event }
        }
        return (text, end)
    }

    private func request(_ served: ServedModels, _ prompt: String, tokens: Int, model: Int = 0, seed: UInt64 = 0)
        throws -> GenerationRequest
    {
        GenerationRequest(
            model: model, prompt: try served.tokenizer.encode(prompt, addBOS: true), maxNewTokens: tokens,
            sampling: SamplingOptions(), seed: seed, stopTokens: Set([served.tokenizer.eosID].compactMap { $0 }),
            stopStrings: [])
    }

    /// Seven greedy requests on three slots (four wait, then join as others leave): each answer
    /// equals `loft generate`'s for its prompt alone.
    func testRequestsJoiningAndLeavingTheBatchAnswerAsAlone() async throws {
        let served = try StoriesServing.served()
        let engine = GenerationEngine(
            models: served.models, tokenizer: served.tokenizer, slots: 3, queueLimit: 16, execution: .fp32)
        defer { engine.shutdown() }
        let prompts = ["Once upon a time", "Lily", "The dog ran", "Tom had a big", "One day", "She", "A cat"]
        let lengths = [40, 7, 25, 60, 3, 18, 33]
        let tickets = try zip(prompts, lengths).map { try engine.submit(try request(served, $0, tokens: $1)) }
        let loaded = try ModelLoader.load(model: try StoriesServing.model, tokenizer: try StoriesServing.tokenizer)
        for (index, ticket) in tickets.enumerated() {
            let (text, end) = await collect(ticket)
            let expected = try StoriesServing.generate(loaded, prompt: prompts[index], maxNewTokens: lengths[index])
            XCTAssertEqual(text, expected, prompts[index])
            guard case .finished(_, let promptTokens, let completionTokens) = end else {
                return XCTFail("\(prompts[index]): no finish event")
            }
            XCTAssertEqual(promptTokens, try served.tokenizer.encode(prompts[index], addBOS: true).count)
            XCTAssertLessThanOrEqual(completionTokens, lengths[index])
        }
    }

    /// Base and adapter requests decode in the same steps, each on its own weights.
    func testAdaptersSideBySideAnswerAsTheirOwnModels() async throws {
        let folder = try Fixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        try StoriesServing.writeAdapter(to: folder, seed: 11)
        let served = try StoriesServing.served(adapters: [("tuned", folder.path)])
        XCTAssertEqual(served.names, ["stories", "tuned"])
        let engine = GenerationEngine(
            models: served.models, tokenizer: served.tokenizer, slots: 4, queueLimit: 4, execution: .fp32)
        defer { engine.shutdown() }
        let prompts = ["Once upon a time", "The dog ran"]
        var tickets: [(Int, String, GenerationTicket)] = []
        for prompt in prompts {
            for model in [0, 1] {
                tickets.append(
                    (model, prompt, try engine.submit(try request(served, prompt, tokens: 30, model: model))))
            }
        }
        let base = try ModelLoader.load(model: try StoriesServing.model, tokenizer: try StoriesServing.tokenizer)
        let tuned = try ModelLoader.load(
            model: try StoriesServing.model, adapter: folder.path, tokenizer: try StoriesServing.tokenizer)
        var answers: [String: String] = [:]
        for (model, prompt, ticket) in tickets {
            let (text, _) = await collect(ticket)
            let expected = try StoriesServing.generate(model == 0 ? base : tuned, prompt: prompt, maxNewTokens: 30)
            XCTAssertEqual(text, expected, "model \(model), \(prompt)")
            answers["\(model) \(prompt)"] = text
        }
        XCTAssertNotEqual(answers["0 Once upon a time"], answers["1 Once upon a time"], "the adapter changes nothing")
    }

    /// Two sampled requests with one seed in one batch answer alike; another seed differs.
    func testSampledRequestsFollowTheirSeed() async throws {
        let served = try StoriesServing.served()
        let engine = GenerationEngine(
            models: served.models, tokenizer: served.tokenizer, slots: 4, queueLimit: 4, execution: .fp32)
        defer { engine.shutdown() }
        func sampled(_ seed: UInt64) throws -> GenerationTicket {
            var request = try request(served, "Once upon a time", tokens: 40, seed: seed)
            request.sampling = SamplingOptions(temperature: 1, topP: 0.95)
            return try engine.submit(request)
        }
        let tickets = try [sampled(5), sampled(5), sampled(6)]
        var texts: [String] = []
        for ticket in tickets { texts.append(await collect(ticket).0) }
        XCTAssertEqual(texts[0], texts[1])
        XCTAssertNotEqual(texts[0], texts[2])
    }

    /// A cancelled request ends without a finish event; past the queue limit, 429. On SmolLM2
    /// (tens of milliseconds a token), so that the request is surely still running when the test
    /// acts — stories260K would finish 400 tokens in a few milliseconds, racing the test.
    func testCancelAndQueueLimit() async throws {
        let served = try ServedModels(
            model: try Fixtures.data("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"), adapters: [])
        let engine = GenerationEngine(
            models: served.models, tokenizer: served.tokenizer, slots: 1, queueLimit: 0, execution: .fp32)
        defer { engine.shutdown() }
        let long = try engine.submit(try request(served, "Once upon a time", tokens: 400))
        XCTAssertThrowsError(try engine.submit(try request(served, "Lily", tokens: 5))) { error in
            XCTAssertEqual((error as? APIError)?.status, 429)
        }
        long.cancel()
        let (_, end) = await collect(long)
        XCTAssertNil(end, "a cancelled request must not finish")
        // the place is free again
        let next = try engine.submit(try request(served, "Lily", tokens: 5))
        guard case .finished? = await collect(next).1 else { return XCTFail("no finish after a cancel") }
    }
}
