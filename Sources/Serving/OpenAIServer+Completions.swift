import Autograd
import Foundation
import Hummingbird
import Llama
import NIOCore

extension OpenAIServer {
    /// Tokenizes, queues and answers one completion, whole or as server-sent events.
    func complete(_ request: CompletionRequest, chat: Bool, context: ServeContext) async throws -> Response {
        let model = try served.index(of: request.model)
        let (prompt, stopTokens, promptText) = try tokens(of: request)
        let param = chat ? "messages" : "prompt"
        guard !prompt.isEmpty else { throw APIError.invalid("the prompt has no token", param: param) }
        guard prompt.count < served.contextLength else {
            throw APIError.invalid(
                "the prompt has \(prompt.count) tokens; the model's context is \(served.contextLength)", param: param,
                code: "context_length_exceeded")
        }
        let maxTokens = request.maxTokens ?? (chat ? options.maxTokens : min(16, options.maxTokens))
        guard maxTokens <= options.maxTokens else {
            throw APIError.invalid(
                "'max_tokens' is \(maxTokens); this server allows at most \(options.maxTokens)", param: "max_tokens")
        }
        let number = counter.next()
        let seed = request.seed ?? (options.seed ^ (UInt64(number) &* 0x9E37_79B9_7F4A_7C15))
        let ticket = try engine.submit(
            GenerationRequest(
                model: model, prompt: prompt, maxNewTokens: min(maxTokens, served.contextLength - prompt.count),
                sampling: SamplingOptions(temperature: request.temperature, topP: request.topP), seed: seed,
                stopTokens: stopTokens, stopStrings: request.stop))
        // A client that goes away stops its generation at the engine's next step.
        context.channel.closeFuture.whenComplete { _ in ticket.cancel() }
        let answer = Answer(
            chat: chat, id: (chat ? "chatcmpl-" : "cmpl-") + "loft\(number)",
            created: Int(Date().timeIntervalSince1970),
            model: served.names[model])
        if request.stream { return stream(ticket, answer: answer, usage: request.streamUsage) }
        var text = request.echo ? promptText : ""
        return try await withTaskCancellationHandler {
            for await event in ticket.events {
                switch event {
                case .text(let piece): text += piece
                case .failed(let message): throw APIError(status: 500, message: message, type: "server_error")
                case .finished(let reason, let promptTokens, let completionTokens):
                    return Self.json(
                        OpenAIJSON.completion(
                            chat: chat, id: answer.id, created: answer.created, model: answer.model, text: text,
                            finish: reason, promptTokens: promptTokens, completionTokens: completionTokens))
                }
            }
            throw APIError(status: 499, message: "the request was cancelled", type: "server_error")
        } onCancel: {
            ticket.cancel()
        }
    }

    /// The ids to continue, the tokens that end the answer, and the prompt's text (for `echo`).
    private func tokens(of request: CompletionRequest) throws -> ([Int32], Set<Int32>, String) {
        switch request.input {
        case .text(let text):
            let ids: [Int32]
            do { ids = try served.tokenizer.encode(text, addBOS: true) } catch {
                throw APIError.invalid("the prompt cannot be tokenized: \(error)", param: "prompt")
            }
            return (ids, served.tokenizer.endOfSequenceStops, text)
        case .chat(let messages):
            guard let encoder = served.chat else {
                throw APIError.invalid(
                    "this model has no chat template (\(served.chatUnavailable ?? "none")); use /v1/completions, "
                        + "or start the server with --chat-template", param: "messages")
            }
            do {
                return (try encoder.prompt(messages), encoder.stopTokens, "")
            } catch {
                throw APIError.invalid("the chat template cannot render these messages: \(error)", param: "messages")
            }
        }
    }

    /// What every chunk of one answer repeats.
    struct Answer: Sendable {
        let chat: Bool, id: String, created: Int, model: String
    }

    /// The answer as server-sent events: `data: <chunk>` per piece of text (chat opens with the
    /// role), a last chunk with the finish reason, usage when asked, then `data: [DONE]`.
    /// reference: OpenAI API reference, "Streaming"
    private func stream(_ ticket: GenerationTicket, answer: Answer, usage: Bool) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            // A failed write (the client is gone) ends the generation too.
            defer { ticket.cancel() }
            func send(_ data: Data) async throws {
                try await writer.write(ByteBuffer(bytes: Data("data: ".utf8) + data + Data("\n\n".utf8)))
            }
            func chunk(_ text: String?, role: Bool = false, finish: FinishReason? = nil) -> Data {
                OpenAIJSON.chunk(
                    chat: answer.chat, id: answer.id, created: answer.created, model: answer.model, text: text,
                    role: role, finish: finish)
            }
            if answer.chat { try await send(chunk("", role: true)) }
            for await event in ticket.events {
                switch event {
                case .text(let piece): try await send(chunk(piece))
                case .failed(let message):
                    try await send(APIError(status: 500, message: message, type: "server_error").body)
                case .finished(let reason, let promptTokens, let completionTokens):
                    try await send(chunk(answer.chat ? nil : "", finish: reason))
                    if usage {
                        try await send(
                            OpenAIJSON.chunk(
                                chat: answer.chat, id: answer.id, created: answer.created, model: answer.model,
                                text: nil, usage: OpenAIJSON.usage(prompt: promptTokens, completion: completionTokens)))
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
