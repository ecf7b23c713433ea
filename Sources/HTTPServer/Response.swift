/// Produces a streamed body chunk by chunk; nil ends the stream. Called on the worker thread serving the
/// connection, one call at a time; a thrown error aborts the response (the client sees a cut connection).
public protocol ChunkSource: AnyObject {
    func nextChunk() throws -> [UInt8]?
    /// Called once when the response is finished or abandoned, to free what the source holds.
    func close()
}

extension ChunkSource {
    public func close() {}
}

public struct Response {
    public enum Body {
        case bytes([UInt8])
        case stream(any ChunkSource)
    }

    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Body

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, contentType: String, bytes: [UInt8]) {
        self.init(status: status, headers: [("Content-Type", contentType)], body: .bytes(bytes))
    }

    public static func json(_ status: Int, _ bytes: [UInt8]) -> Response {
        Response(status: status, contentType: "application/json", bytes: bytes)
    }

    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8")
        -> Response
    {
        Response(status: status, contentType: contentType, bytes: Array(text.utf8))
    }

    public static func noContent() -> Response { Response(status: 204) }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// Sets a header, replacing any with the same name.
    public mutating func setHeader(_ name: String, _ value: String) {
        let lower = name.lowercased()
        headers.removeAll { $0.name.lowercased() == lower }
        headers.append((name, value))
    }
}
