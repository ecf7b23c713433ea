import Foundation
import HTTPServer
import Testing

/// The HTTP server on its own: streamed bodies and request decoding, driven over a real socket.
@Suite struct ServerStreamingTests {
    final class Counting: ChunkSource {
        var left: Int
        let closed: @Sendable () -> Void
        init(chunks: Int, closed: @escaping @Sendable () -> Void) {
            left = chunks
            self.closed = closed
        }
        func nextChunk() throws -> [UInt8]? {
            guard left > 0 else { return nil }
            left -= 1
            return Array("line \(left)\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 50_000)
        }
        func close() { closed() }
    }

    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }

    @Test func aStreamedBodyArrivesWholeAndItsSourceIsClosed() throws {
        let closed = Flag()
        var router = Router()
        router.add("GET", "/stream") { _, _ in
            Response(
                status: 200, headers: [("Content-Type", "text/plain")],
                body: .stream(Counting(chunks: 40, closed: { closed.set() })))
        }
        router.add("GET", "/echo/{word}") { request, _ in
            let q = request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
            return .text(200, "\(request.pathParameter("word") ?? "")|\(q)|\(request.header("x-thing") ?? "")")
        }
        let server = try Server(
            ServerConfiguration(port: 0, threads: 2), logger: Logger(level: .error),
            handler: router.handler(middleware: [Middlewares.requestID]))
        defer { server.shutdown(drainSeconds: 1) }

        let response = try HTTPConnection(port: server.port).request("GET", "/stream")
        #expect(response.status == 200)
        #expect(response.header("transfer-encoding")?.lowercased() == "chunked")
        #expect(response.body.count == 40 * 50_000 + (0..<40).reduce(0) { $0 + "line \($1)\n".utf8.count })
        #expect(response.text.hasPrefix("line 39\n"))
        usleep(100_000)
        #expect(closed.isSet)

        let echo = try HTTPConnection(port: server.port).request(
            "GET", "/echo/a%20b?q=50%25+off&flag&x=%E2%9C%93", headers: [("X-Thing", "yes")])
        #expect(echo.text == "a b|q=50% off&flag=&x=✓|yes")
    }
}
