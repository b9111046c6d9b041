import Foundation

/// A refused request, answered with its HTTP status and OpenAI's error object:
/// `{"error": {"message", "type", "param", "code"}}`.
/// reference: OpenAI API reference, "Error codes"; llama.cpp tools/server (format_error_response)
public struct APIError: Error, Equatable, Sendable {
    /// The HTTP status (400, 401, 404, 405, 413, 429, 500, 503).
    public let status: Int
    /// One line for the client.
    public let message: String
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, `not_found_error`, ….
    public let type: String
    /// The request field at fault, when there is one (`messages[2].content`).
    public let param: String?
    /// OpenAI's `code`, e.g. `model_not_found`, `context_length_exceeded`.
    public let code: String?

    /// An error with every part given.
    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        (self.status, self.message, self.type) = (status, message, type)
        (self.param, self.code) = (param, code)
    }

    /// 400: the request is wrong (`param` names the field).
    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    /// 401: the API key is missing or wrong.
    public static let unauthorized = APIError(
        status: 401, message: "missing or invalid API key: send 'Authorization: Bearer <key>'",
        type: "authentication_error", code: "invalid_api_key")

    /// 404: no such model (by configured name).
    public static func unknownModel(_ name: String, known: [String]) -> APIError {
        APIError(
            status: 404,
            message: "the model '\(name)' does not exist; this server has \(known.joined(separator: ", "))",
            type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    /// 404: no such route.
    public static func notFound(_ method: String, _ path: String) -> APIError {
        APIError(status: 404, message: "no route \(method) \(path)", type: "not_found_error")
    }

    /// 405: the route exists with another method.
    public static func methodNotAllowed(_ method: String, _ path: String, allowed: String) -> APIError {
        APIError(
            status: 405, message: "\(path) does not accept \(method); use \(allowed)", type: "invalid_request_error")
    }

    /// 413: the body is larger than the server accepts.
    public static func bodyTooLarge(limit: Int) -> APIError {
        APIError(
            status: 413, message: "the request body is larger than \(limit) bytes", type: "invalid_request_error",
            code: "request_too_large")
    }

    /// 429: the queue of waiting requests is full.
    public static func queueFull(limit: Int) -> APIError {
        APIError(
            status: 429, message: "the server is busy: \(limit) requests are already waiting; retry later",
            type: "rate_limit_error", code: "queue_full")
    }

    /// 503: the server is shutting down.
    public static let shuttingDown = APIError(
        status: 503, message: "the server is shutting down", type: "server_error", code: "shutting_down")

    /// The JSON body.
    public var body: Data {
        var error: [String: Any] = ["message": message, "type": type]
        error["param"] = param ?? NSNull()
        error["code"] = code ?? NSNull()
        return OpenAIJSON.data(["error": error])
    }
}
