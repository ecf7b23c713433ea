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

    /// A body that trickles in (a byte every half second, under the idle timeout each time) is cut off once it
    /// has taken longer than the connection timeout at less than the minimum rate; a brisk one is served.
    @Test func aTricklingBodyIsCutOffAndABriskOneIsServed() throws {
        var router = Router()
        router.add("POST", "/upload") { request, _ in .text(200, "got \(request.body.count)") }
        let server = try Server(
            ServerConfiguration(port: 0, threads: 2, connectionTimeoutSeconds: 2, minBodyBytesPerSecond: 1000),
            logger: Logger(level: .error), handler: router.handler(middleware: [Middlewares.requestID]))
        defer { server.shutdown(drainSeconds: 1) }

        let brisk = try HTTPConnection(port: server.port)
        try brisk.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n")
        try brisk.send([UInt8](repeating: 65, count: 3000))
        #expect(try brisk.readResponse().text == "got 3000")

        let slow = try HTTPConnection(port: server.port, timeoutSeconds: 10)
        try slow.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n")
        let started = Date()
        var cut = false
        while !cut && Date().timeIntervalSince(started) < 6 {
            cut = (try? slow.send([65])) == nil
            usleep(500_000)
        }
        // Closed by the server (a send after the close fails) well before the body could have finished.
        #expect(cut, "a trickling body was not cut off")
        #expect(Date().timeIntervalSince(started) < 6)
    }
}
