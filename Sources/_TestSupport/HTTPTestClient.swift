import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.1 client over a loopback socket, for tests of `loft serve` over real HTTP:
/// raw bytes out (so malformed requests can be sent as they are), the response read to the end
/// (`Connection: close`), chunked bodies joined. Not a general client.
public struct HTTPTestClient {
    /// A parsed response.
    public struct Response {
        public let status: Int
        public let headers: [String: String]
        public let body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body as a JSON object (nil when it is not one).
        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        /// `error.<key>` of an OpenAI error object.
        public func error(_ key: String) -> Any? { (json?["error"] as? [String: Any])?[key] }
    }

    public enum Failure: Error { case connect(Int32), malformed(String), timedOut }

    public let port: Int
    public init(port: Int) { self.port = port }

    /// Sends a request with `body` (JSON text) and the given extra header lines.
    public func request(
        _ method: String, _ path: String, body: String? = nil, headers: [String] = []
    ) throws -> Response {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for line in headers { head += line + "\r\n" }
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        }
        return try send(Data((head + "\r\n" + (body ?? "")).utf8))
    }

    /// Sends `bytes` as they are and reads the response to the end.
    public func send(_ bytes: Data, timeout: TimeInterval = 60) throws -> Response {
        let socket = try open()
        defer { close(socket) }
        try write(socket, bytes)
        shutdown(socket, Int32(SHUT_WR))
        var received = Data()
        let deadline = Date().addingTimeInterval(timeout)
        while let chunk = try read(socket, deadline: deadline) { received.append(chunk) }
        return try Self.parse(received)
    }

    /// Opens a connection, sends `bytes`, and returns the socket for reading piece by piece.
    public func start(_ bytes: Data) throws -> Int32 {
        let socket = try open()
        try write(socket, bytes)
        return socket
    }

    /// The next bytes from `socket`, nil at its end.
    public func read(_ socket: Int32, deadline: Date) throws -> Data? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let wait = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&poller, 1, wait) > 0 else { throw Failure.timedOut }
            let count = recv(socket, &buffer, buffer.count, 0)
            if count > 0 { return Data(buffer[0..<count]) }
            if count == 0 { return nil }
            if errno != EINTR { return nil }
        }
    }

    private func open() throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure.connect(errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(socket)
            throw Failure.connect(code)
        }
        return socket
    }

    private func write(_ socket: Int32, _ bytes: Data) throws {
        var offset = 0
        let array = [UInt8](bytes)
        while offset < array.count {
            let sent = array[offset...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return }  // the server closed: read what it answered
            offset += sent
        }
    }

    /// Parses a whole response (status line, headers, a body by length, chunks or to the end).
    public static func parse(_ data: Data) throws -> Response {
        let bytes = [UInt8](data)
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw Failure.malformed("no end of headers in \(bytes.count) bytes")
        }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure.malformed("status line '\(lines[0])'")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        var body = Array(bytes[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return Response(status: status, headers: headers, body: Data(body))
    }

    /// The body of a chunked transfer (RFC 9112 §7.1).
    public static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [], index = 0
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else { break }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else {
                throw Failure.malformed("chunk size '\(sizeText)'")
            }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard start + size <= bytes.count else { throw Failure.malformed("a chunk runs past the end") }
            out += bytes[start..<(start + size)]
            index = start + size + 2
        }
        return out
    }
}
