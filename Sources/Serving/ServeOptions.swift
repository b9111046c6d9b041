/// How `loft serve` listens and what it accepts.
public struct ServeOptions: Sendable {
    /// The address to bind: loopback unless told otherwise.
    public var host = "127.0.0.1"
    /// The port; 0 lets the system choose (the bound port is reported when the server runs).
    public var port = 8080
    /// When set, every `/v1/` request must carry `Authorization: Bearer <apiKey>`.
    public var apiKey: String? = nil
    /// The largest request body, in bytes.
    public var maxBodyBytes = 1 << 20
    /// The largest `max_tokens` a request may ask for (and a chat request's default).
    public var maxTokens = 1024
    /// The most requests decoding together, and the most waiting beyond them (then 429).
    public var slots = 8, queueLimit = 64
    /// The seed of the sampling streams of requests without their own `seed`.
    public var seed: UInt64 = 0

    /// The defaults.
    public init() {}
}
