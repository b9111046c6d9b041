import Foundation
import Hummingbird
import Llama
import Logging
import NIOCore
import ServiceLifecycle

/// `loft serve` as a service: the HTTP server (Hummingbird) in front of the generation engine.
/// SIGTERM or SIGINT (when `handleSignals`) or `shutdown()` drains it: the listener closes, the
/// requests already in flight finish, then the engine stops and `run()` returns.
public final class LoftServer: Sendable {
    let group: ServiceGroup
    let engine: GenerationEngine

    /// A server for `served`; `onRunning(host, port)` is called once it listens (with the port
    /// the system chose when `options.port` is 0).
    public init(
        served: ServedModels, options: ServeOptions, execution: ExecutionOptions, handleSignals: Bool = true,
        onRunning: @escaping @Sendable (String, Int) -> Void
    ) {
        engine = GenerationEngine(
            models: served.models, tokenizer: served.tokenizer, slots: options.slots, queueLimit: options.queueLimit,
            execution: execution)
        var logger = Logger(label: "loft.serve")
        logger.logLevel = .critical
        let host = options.host
        let application = Application(
            responder: OpenAIServer(served: served, engine: engine, options: options),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: options.port), serverName: "loft", reuseAddress: true),
            onServerRunning: { channel in onRunning(host, channel.localAddress?.port ?? options.port) },
            logger: logger)
        group = ServiceGroup(
            services: [application], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger)
    }

    /// Serves until shut down; the engine has finished every request when it returns.
    /// - Throws: when the address cannot be bound.
    public func run() async throws {
        do {
            try await group.run()
        } catch {
            await drainEngine()
            throw error
        }
        await drainEngine()
    }

    /// Begins a graceful shutdown.
    public func shutdown() async { await group.triggerGracefulShutdown() }

    private func drainEngine() async {
        let engine = self.engine
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                engine.shutdown()
                done.resume()
            }
        }
    }
}
