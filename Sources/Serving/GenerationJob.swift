import Autograd
import Foundation
import Llama
import Synchronization
import Recipes
import Tokenizers

/// Why an answer ended, as OpenAI names it.
public enum FinishReason: String, Sendable {
    /// A stop token (end of turn, EOS) or a `stop` string.
    case stop
    /// `max_tokens`, or the model's context is full.
    case length
}

/// What a request's stream receives from the engine, in order: text pieces, then one end.
public enum GenerationEvent: Sendable, Equatable {
    /// New text of the answer.
    case text(String)
    /// The answer is complete.
    case finished(FinishReason, promptTokens: Int, completionTokens: Int)
    /// The request could not be run (e.g. the cache could not be allocated).
    case failed(String)
}

/// What the engine is asked to decode: token ids for one served model.
public struct GenerationRequest: Sendable {
    /// The index of the model in the engine's list (the base or an adapter).
    public var model: Int
    public var prompt: [Int32]
    public var maxNewTokens: Int
    public var sampling: SamplingOptions
    public var seed: UInt64
    /// Tokens that end the answer (not part of it).
    public var stopTokens: Set<Int32>
    /// Strings that end the answer (not part of it).
    public var stopStrings: [String]

    /// A request from its parts.
    public init(
        model: Int, prompt: [Int32], maxNewTokens: Int, sampling: SamplingOptions, seed: UInt64,
        stopTokens: Set<Int32>, stopStrings: [String]
    ) {
        (self.model, self.prompt, self.maxNewTokens) = (model, prompt, maxNewTokens)
        self.sampling = sampling
        (self.seed, self.stopTokens, self.stopStrings) = (seed, stopTokens, stopStrings)
    }
}

/// A handle on a submitted request: its events, and a way to stop it (a client that went away).
public final class GenerationTicket: Sendable {
    /// Text pieces, then `.finished` or `.failed`.
    public let events: AsyncStream<GenerationEvent>
    let cancelled = Atomic<Bool>(false)

    init(events: AsyncStream<GenerationEvent>) { self.events = events }

    /// Stops the generation at the engine's next step (no more events are sent).
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Whether `cancel` was called.
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
}

/// A request's state on the engine thread.
final class GenerationJob {
    let request: GenerationRequest
    let ticket: GenerationTicket
    let continuation: AsyncStream<GenerationEvent>.Continuation
    var rng: RandomState
    var cache: KVCache? = nil
    var decoder: StreamingText
    var stops: StopStrings
    /// The token to feed at the next step.
    var pending: Int32 = 0
    var generated = 0
    var done = false
    /// Called once when the job ends (the engine's count of places in use).
    var onEnd: (() -> Void)? = nil

    init(
        request: GenerationRequest, tokenizer: any Tokenizer, ticket: GenerationTicket,
        continuation: AsyncStream<GenerationEvent>.Continuation
    ) {
        (self.request, self.ticket, self.continuation) = (request, ticket, continuation)
        rng = RandomState(seed: request.seed).split("sampling")
        decoder = StreamingText(tokenizer: tokenizer, prompt: request.prompt)
        stops = StopStrings(request.stopStrings)
    }

    /// Takes the token sampled after the last step: ends the answer at a stop token, a stop
    /// string, `maxNewTokens` or a full cache; else sends its text and keeps it for the next step.
    func accept(_ token: Int32) {
        if request.stopTokens.contains(token) { return finish(.stop) }
        generated += 1
        let (release, stopped) = stops.feed(decoder.append(token))
        if !release.isEmpty { continuation.yield(.text(release)) }
        if stopped { return finish(.stop, flush: false) }
        if generated >= request.maxNewTokens { return finish(.length) }
        if let cache, cache.length >= cache.capacity { return finish(.length) }
        pending = token
    }

    func finish(_ reason: FinishReason, flush: Bool = true) {
        if flush {
            let rest = stops.feed(decoder.remainder()).release + stops.flush()
            if !rest.isEmpty { continuation.yield(.text(rest)) }
        }
        continuation.yield(.finished(reason, promptTokens: request.prompt.count, completionTokens: generated))
        close()
    }

    func fail(_ message: String) {
        continuation.yield(.failed(message))
        close()
    }

    /// Ends the job: its cache freed, its place given back (`onEnd`), then its stream closed — in
    /// that order, so a client that sends its next request on seeing the end finds the place free.
    func close() {
        done = true
        cache = nil
        onEnd?()
        onEnd = nil
        continuation.finish()
    }
}
