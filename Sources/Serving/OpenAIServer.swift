import Foundation
import Hummingbird
import NIOCore

/// The request context of `loft serve`: Hummingbird's, plus the connection (its close stops the
/// request's generation).
public struct ServeContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's connection.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The routes of `loft serve`, answered by hand rather than by a router so that every miss —
/// an unknown path, a wrong method — gets OpenAI's error object too:
/// `GET /` (the chat page), `GET /health`, `GET /v1/models`, `POST /v1/chat/completions`,
/// `POST /v1/completions`.
/// reference: OpenAI API reference; llama.cpp tools/server (routes, /health)
public struct OpenAIServer: HTTPResponder {
    public typealias Context = ServeContext

    let served: ServedModels
    let engine: GenerationEngine
    let options: ServeOptions
    let created = Int(Date().timeIntervalSince1970)
    let counter = RequestCounter()

    /// A server over `served`, decoding with `engine`.
    public init(served: ServedModels, engine: GenerationEngine, options: ServeOptions) {
        (self.served, self.engine, self.options) = (served, engine, options)
    }

    public func respond(to request: Request, context: ServeContext) async throws -> Response {
        do {
            return try await route(request, context: context)
        } catch let error as APIError {
            return Self.errorResponse(error)
        } catch {
            return Self.errorResponse(APIError(status: 500, message: "\(error)", type: "server_error"))
        }
    }

    /// Each path and its method.
    static let routes: [String: HTTPRequest.Method] = [
        "/": .get, "/health": .get, "/v1/models": .get, "/v1/chat/completions": .post, "/v1/completions": .post,
    ]

    private func route(_ request: Request, context: ServeContext) async throws -> Response {
        let path = request.uri.path
        guard let method = Self.routes[path] else {
            throw APIError.notFound(request.method.rawValue, String(path.prefix(200)))
        }
        guard request.method == method else {
            throw APIError.methodNotAllowed(request.method.rawValue, path, allowed: method.rawValue)
        }
        if path.hasPrefix("/v1/") { try authorize(request) }
        switch path {
        case "/":
            return Self.response(status: .ok, contentType: "text/html; charset=utf-8", body: Data(ChatPage.html.utf8))
        case "/health":
            let load = engine.load
            return Self.json(OpenAIJSON.data(["status": "ok", "waiting": load.waiting, "running": load.running]))
        case "/v1/models": return Self.json(OpenAIJSON.models(served.names, created: created))
        default:
            let body = try await collect(request)
            let chat = path == "/v1/chat/completions"
            let parsed = chat ? try CompletionRequest.chat(body) : try CompletionRequest.completion(body)
            return try await complete(parsed, chat: chat, context: context)
        }
    }

    /// `Authorization: Bearer <key>`, compared in time independent of where it differs.
    private func authorize(_ request: Request) throws {
        guard let key = options.apiKey else { return }
        let given = Array((request.headers[.authorization] ?? "").utf8)
        let expected = Array("Bearer \(key)".utf8)
        var difference = given.count ^ expected.count
        for index in expected.indices { difference |= Int(expected[index] ^ (index < given.count ? given[index] : 0)) }
        guard difference == 0 else { throw APIError.unauthorized }
    }

    /// The body, refused past `maxBodyBytes` (by its declared length first, then as it arrives).
    private func collect(_ request: Request) async throws -> Data {
        let limit = options.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        var data = Data()
        for try await var chunk in request.body {
            guard data.count + chunk.readableBytes <= limit else { throw APIError.bodyTooLarge(limit: limit) }
            if let bytes = chunk.readBytes(length: chunk.readableBytes) { data.append(contentsOf: bytes) }
        }
        return data
    }

    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        response(status: status, contentType: "application/json", body: data)
    }

    static func response(status: HTTPResponse.Status, contentType: String, body: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func errorResponse(_ error: APIError) -> Response {
        json(error.body, status: HTTPResponse.Status(code: error.status))
    }
}

/// Numbers requests (their ids and default seeds).
final class RequestCounter: Sendable {
    private let lock = NSLock()
    nonisolated(unsafe) private var value = 0

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
