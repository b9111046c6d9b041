import Autograd
import Foundation
import Llama
import Tokenizers

/// Continuous batching over the KV-cache decoder: requests wait in a bounded queue, join the
/// running batch between steps (their prompt is read in one forward pass), decode together — one
/// `decodeStep` per served model per step, so requests for different adapters run side by side,
/// each on its own weights — and leave it as soon as they end or their client goes away.
/// The model runs on one thread of its own; its kernels use the process's worker pool.
/// reference: Orca (OSDI '22, iteration-level scheduling); llama.cpp tools/server (slots)
public final class GenerationEngine: @unchecked Sendable {
    /// The served models: the base first, then each adapter (sharing the base's frozen weights).
    let models: [LlamaModel]
    let tokenizer: any Tokenizer
    /// The most requests decoding at once, and the most waiting for a place.
    public let slots: Int, queueLimit: Int
    /// The most prompt tokens read between two decoding steps (one prompt at least).
    public let prefillBudget: Int
    let execution: ExecutionOptions

    private let condition = NSCondition()
    private var waiting: [GenerationJob] = []
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    /// An engine over `models` (one tokenizer for all), started at once; `shutdown()` stops it.
    public init(
        models: [LlamaModel], tokenizer: any Tokenizer, slots: Int, queueLimit: Int, prefillBudget: Int = 512,
        execution: ExecutionOptions
    ) {
        precondition(!models.isEmpty && slots >= 1 && queueLimit >= 0, "GenerationEngine: no model or no slot")
        (self.models, self.tokenizer) = (models, tokenizer)
        (self.slots, self.queueLimit, self.prefillBudget) = (slots, queueLimit, prefillBudget)
        self.execution = execution
        // The thread holds the engine until `shutdown()` ends it.
        let thread = Thread {
            self.run()
            self.finished.signal()
        }
        thread.name = "loft-engine"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queues `request`; its ticket streams the answer.
    /// - Throws: `APIError` 429 when `queueLimit` requests already wait, 503 when shutting down.
    public func submit(_ request: GenerationRequest) throws -> GenerationTicket {
        let (events, continuation) = AsyncStream.makeStream(of: GenerationEvent.self)
        let ticket = GenerationTicket(events: events)
        let job = GenerationJob(request: request, tokenizer: tokenizer, ticket: ticket, continuation: continuation)
        job.onEnd = { [unowned self] in
            condition.lock()
            inUse -= 1
            condition.unlock()
        }
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw APIError.shuttingDown }
        guard inUse < slots + queueLimit else {
            throw APIError.queueFull(limit: queueLimit)
        }
        waiting.append(job)
        inUse += 1
        condition.signal()
        return ticket
    }

    /// Refuses new requests, finishes every queued and running one, then stops the thread.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        finished.wait()
    }

    /// The requests waiting and the requests decoding, for `/health`.
    public var load: (waiting: Int, running: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (waiting.count, inUse - waiting.count)
    }
    /// Requests accepted and not yet ended (waiting, joining or decoding).
    private var inUse = 0

    // MARK: - The engine thread

    private func run() {
        var running: [GenerationJob] = []
        var admitted: [GenerationJob] = []
        while true {
            condition.lock()
            while running.isEmpty && admitted.isEmpty && waiting.isEmpty && !stopping { condition.wait() }
            if running.isEmpty && admitted.isEmpty && waiting.isEmpty && stopping {
                condition.unlock()
                return
            }
            let joining = Array(waiting.prefix(max(0, slots - running.count - admitted.count)))
            waiting.removeFirst(joining.count)
            admitted += joining
            condition.unlock()
            // Prompts are read up to `prefillBudget` tokens a step (at least one prompt), so a
            // burst of new requests does not stall the answers already streaming.
            var budget = prefillBudget
            while let job = admitted.first, budget > 0 {
                admitted.removeFirst()
                if job.ticket.isCancelled {
                    job.close()
                    continue
                }
                budget -= job.request.prompt.count
                prefill(job)
                if !job.done { running.append(job) }
            }
            running = step(running)
        }
    }

    /// Reads the prompt into a new cache and takes the first token.
    private func prefill(_ job: GenerationJob) {
        let model = models[job.request.model]
        let capacity = min(job.request.prompt.count + job.request.maxNewTokens, model.config.maxSequenceLength)
        guard job.request.prompt.count < capacity, model.firstInvalidToken(job.request.prompt) == nil else {
            return job.fail("the prompt does not fit the model's context or holds an id outside its vocabulary")
        }
        let cache = KVCache(config: model.config, capacity: capacity)
        job.cache = cache
        let logits = model.forward(tokens: job.request.prompt, cache: cache, execution: execution)
        job.accept(job.request.sampling.sample(logits, rng: &job.rng))
    }

    /// One decoding step of every running request, grouped by model; returns those still running.
    private func step(_ running: [GenerationJob]) -> [GenerationJob] {
        var live: [GenerationJob] = []
        for job in running {
            if job.ticket.isCancelled {
                job.close()
            } else if !job.done {
                live.append(job)
            }
        }
        for model in Set(live.map { $0.request.model }).sorted() {
            let group = live.filter { $0.request.model == model }
            let caches = group.compactMap { $0.cache }
            let logits = models[model].decodeStep(
                tokens: group.map { $0.pending }, caches: caches, execution: execution)
            let width = models[model].config.vocabularySize
            for (row, job) in group.enumerated() {
                let rowLogits = Array(logits[(row * width)..<((row + 1) * width)])
                job.accept(job.request.sampling.sample(rowLogits, rng: &job.rng))
            }
        }
        return live.filter { !$0.done }
    }
}
