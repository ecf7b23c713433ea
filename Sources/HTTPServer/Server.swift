import CMicroHTTPD
import Glibc
import Synchronization

public struct ServerConfiguration: Sendable {
    /// IPv4 or IPv6 address to bind (never every interface unless asked: "0.0.0.0").
    public var host: String
    /// 0 picks a free port; `Server.port` tells which.
    public var port: Int
    public var threads: Int
    /// Concurrent connections in all. libmicrohttpd divides it among the worker threads, and accepts are not
    /// spread evenly, so it must stay well above the expected load (a thread at its share resets newcomers).
    public var connectionLimit: Int
    /// Seconds of inactivity after which a connection is closed (slow clients are cut off).
    public var connectionTimeoutSeconds: Int
    public var maxBodyBytes: Int
    /// A body still arriving after `connectionTimeoutSeconds` must have averaged at least this many bytes a
    /// second, else the connection is closed: the idle timeout alone never cuts off a client that trickles a
    /// byte just before each timeout. 0 turns the check off.
    public var minBodyBytesPerSecond: Int

    public init(
        host: String = "127.0.0.1", port: Int = 8080, threads: Int = 16, connectionLimit: Int = 10_000,
        connectionTimeoutSeconds: Int = 30, maxBodyBytes: Int = 1 << 20, minBodyBytesPerSecond: Int = 1024
    ) {
        self.host = host
        self.port = port
        self.threads = threads
        self.connectionLimit = connectionLimit
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.maxBodyBytes = maxBodyBytes
        self.minBodyBytesPerSecond = minBodyBytesPerSecond
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public let description: String
}

/// Shared by all worker threads; immutable but for the atomic counter.
final class ServerState: Sendable {
    let handler: Handler
    let maxBodyBytes: Int
    let logger: Logger
    let inFlight = Atomic<Int>(0)
    /// Nanoseconds a body may take before its average rate is checked, and the rate it must keep (bytes/s).
    let bodyGraceNanoseconds: UInt64
    let minBodyBytesPerSecond: Int

    init(
        handler: @escaping Handler, maxBodyBytes: Int, logger: Logger, bodyGraceSeconds: Int = 30,
        minBodyBytesPerSecond: Int = 0
    ) {
        self.handler = handler
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
        bodyGraceNanoseconds = UInt64(max(0, bodyGraceSeconds)) * 1_000_000_000
        self.minBodyBytesPerSecond = minBodyBytesPerSecond
    }
}

/// Per-request state kept in libmicrohttpd's per-request pointer; one worker thread owns it.
final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
    var discarded = 0
    var received = 0
    let startedAt = monotonicNanoseconds()
}

/// An HTTP/1.1 server on libmicrohttpd's internal thread pool (epoll). Handlers run synchronously on the
/// worker threads. `shutdown` stops accepting, lets in-flight requests finish (bounded), then stops.
public final class Server: @unchecked Sendable {
    private let daemon: OpaquePointer
    private let state: Unmanaged<ServerState>
    /// Where libmicrohttpd's own messages go (read by its threads until the daemon stops).
    private let logTarget: UnsafeMutablePointer<bulwark_log_target>
    private let stopped = Mutex(false)
    public let port: Int

    public init(_ configuration: ServerConfiguration, logger: Logger, handler: @escaping Handler) throws {
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_USE_ITC.rawValue
        flags |= MHD_USE_ERROR_LOG.rawValue
        var storage = sockaddr_storage()
        let isIPv6 = configuration.host.contains(":")
        let parsed: Bool = withUnsafeMutableBytes(of: &storage) { raw in
            if isIPv6 {
                let a = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                a.pointee.sin6_family = sa_family_t(AF_INET6)
                a.pointee.sin6_port = UInt16(configuration.port).bigEndian
                return inet_pton(AF_INET6, configuration.host, &a.pointee.sin6_addr) == 1
            }
            let a = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
            a.pointee.sin_family = sa_family_t(AF_INET)
            a.pointee.sin_port = UInt16(configuration.port).bigEndian
            return inet_pton(AF_INET, configuration.host, &a.pointee.sin_addr) == 1
        }
        guard parsed else { throw ServerError(description: "cannot parse listen address \(configuration.host)") }
        if isIPv6 { flags |= MHD_USE_IPv6.rawValue }

        let shared = Unmanaged.passRetained(
            ServerState(
                handler: handler, maxBodyBytes: configuration.maxBodyBytes, logger: logger,
                bodyGraceSeconds: configuration.connectionTimeoutSeconds,
                minBodyBytesPerSecond: configuration.minBodyBytesPerSecond))
        let target = UnsafeMutablePointer<bulwark_log_target>.allocate(capacity: 1)
        target.initialize(to: bulwark_log_target(sink: libraryMessage, cls: shared.toOpaque()))
        let started: OpaquePointer? = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bulwark_mhd_start(
                    flags, UInt16(configuration.port), UInt32(configuration.threads),
                    UInt32(configuration.connectionLimit),
                    UInt32(configuration.connectionTimeoutSeconds), address, accessHandler, shared.toOpaque(),
                    requestCompleted, shared.toOpaque(), target)
            }
        }
        guard let started else {
            target.deallocate()
            shared.release()
            throw ServerError(
                description: "cannot listen on \(configuration.host):\(configuration.port) (address in use?)")
        }
        daemon = started
        state = shared
        logTarget = target
        port = Int(bulwark_mhd_bound_port(started))
    }

    /// Requests started and not yet completed.
    public var inFlight: Int { state.takeUnretainedValue().inFlight.load(ordering: .relaxed) }

    /// Stops accepting connections, waits up to `drainSeconds` for in-flight requests, then stops the daemon.
    public func shutdown(drainSeconds: Double = 10) {
        let first = stopped.withLock { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        let listener = MHD_quiesce_daemon(daemon)
        if listener >= 0 { close(listener) }
        let deadline = monotonicNanoseconds() + UInt64(drainSeconds * 1e9)
        while inFlight > 0 && monotonicNanoseconds() < deadline { usleep(5_000) }
        MHD_stop_daemon(daemon)
    }

    deinit {
        shutdown(drainSeconds: 0)
        logTarget.deallocate()
        state.release()
    }

    public static var libraryVersion: String { String(cString: MHD_get_version()) }
}

// MARK: - libmicrohttpd callbacks (non-capturing; they run on libmicrohttpd's threads)

/// A message of libmicrohttpd's own (it refused a malformed request, a connection failed), as a log line.
private func libraryMessage(cls: UnsafeMutableRawPointer?, message: UnsafePointer<CChar>?) {
    guard let cls, let message else { return }
    let server = Unmanaged<ServerState>.fromOpaque(cls).takeUnretainedValue()
    var text = Substring(String(cString: message))
    while let last = text.last, last.isWhitespace { text.removeLast() }
    server.logger.warn("libmicrohttpd", [("message", .string(String(text)))])
}

private func accessHandler(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?, url: UnsafePointer<CChar>?,
    method: UnsafePointer<CChar>?, version: UnsafePointer<CChar>?, uploadData: UnsafePointer<CChar>?,
    uploadDataSize: UnsafeMutablePointer<Int>?, conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let url, let method, let uploadDataSize, let conCls else { return .NO }
    let server = Unmanaged<ServerState>.fromOpaque(cls).takeUnretainedValue()

    guard let existing = conCls.pointee else {
        // First call: headers are in. Refuse an announced oversized body before reading any of it.
        let request = RequestState()
        server.inFlight.add(1, ordering: .relaxed)
        conCls.pointee = Unmanaged.passRetained(request).toOpaque()
        if let length = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length"),
            let declared = Int(String(cString: length)), declared > server.maxBodyBytes
        {
            request.tooLarge = true
            return respond(server, connection, request, url, method)
        }
        return .YES
    }
    let request = Unmanaged<RequestState>.fromOpaque(existing).takeUnretainedValue()
    let size = uploadDataSize.pointee
    if size > 0 {
        request.received += size
        if server.minBodyBytesPerSecond > 0 {
            let elapsed = monotonicNanoseconds() &- request.startedAt
            if elapsed > server.bodyGraceNanoseconds,
                Double(request.received) < Double(elapsed) / 1e9 * Double(server.minBodyBytesPerSecond)
            {
                server.logger.warn(
                    "body too slow: connection closed",
                    [("received", .int(request.received)), ("seconds", .int(Int(elapsed / 1_000_000_000)))])
                return .NO
            }
        }
        if !request.tooLarge {
            if request.body.count + size > server.maxBodyBytes {
                request.tooLarge = true
                request.body = []
            } else if let uploadData {
                uploadData.withMemoryRebound(to: UInt8.self, capacity: size) {
                    request.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                }
            }
        }
        uploadDataSize.pointee = 0
        if request.tooLarge {
            // A body without Content-Length that grew past the limit. libmicrohttpd cannot answer in the middle
            // of a body, so the rest is discarded and the 413 comes at its end; a client that keeps sending far
            // beyond the limit is cut off instead.
            request.discarded += size
            if request.discarded > 16 * server.maxBodyBytes { return .NO }
        }
        return .YES
    }
    return respond(server, connection, request, url, method)
}

private final class ValueCollector {
    var pairs: [(String, String)] = []
}

private func collectValue(
    cls: UnsafeMutableRawPointer?, kind: MHD_ValueKind, key: UnsafePointer<CChar>?, value: UnsafePointer<CChar>?
) -> MHD_Result {
    guard let cls, let key else { return .YES }
    let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
    collector.pairs.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
    return .YES
}

private func values(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [(String, String)] {
    let collector = ValueCollector()
    let unmanaged = Unmanaged.passRetained(collector)
    defer { unmanaged.release() }
    _ = MHD_get_connection_values(connection, kind, collectValue, unmanaged.toOpaque())
    return collector.pairs
}

private func clientAddress(_ connection: OpaquePointer) -> String {
    guard let address = bulwark_mhd_client_address(connection) else { return "" }
    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    switch Int32(address.pointee.sa_family) {
    case AF_INET:
        address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
            var addr = a.pointee.sin_addr
            _ = inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count))
        }
    case AF_INET6:
        address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
            var addr = a.pointee.sin6_addr
            _ = inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
        }
    default: return ""
    }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func respond(
    _ server: ServerState, _ connection: OpaquePointer, _ state: RequestState, _ url: UnsafePointer<CChar>,
    _ method: UnsafePointer<CChar>
) -> MHD_Result {
    var headers: [String: String] = [:]
    for (name, value) in values(connection, .HEADER_KIND) {
        let key = name.lowercased()
        if let existing = headers[key] { headers[key] = existing + ", " + value } else { headers[key] = value }
    }
    let query = values(connection, .GET_ARGUMENT_KIND).map { (name: $0.0, value: $0.1) }
    var request = Request(
        method: String(cString: method), path: String(cString: url), query: query, headers: headers,
        body: state.tooLarge ? [] : state.body, remoteAddress: clientAddress(connection))
    if state.tooLarge { request.bodyLimitExceeded = server.maxBodyBytes }
    state.body = []

    let context = Context(startedAt: state.startedAt)
    let response: Response
    do {
        response = try server.handler(request, context)
    } catch {
        server.logger.error("handler threw past error rendering", [("error", .string(String(describing: error)))])
        response = APIError.internal().response(requestID: context.requestID)
    }
    return queue(connection, response)
}

private func queue(_ connection: OpaquePointer, _ response: Response) -> MHD_Result {
    let created: OpaquePointer?
    switch response.body {
    case .bytes(let bytes):
        created = bytes.withUnsafeBytes { buffer in
            MHD_create_response_from_buffer(
                buffer.count, UnsafeMutableRawPointer(mutating: buffer.baseAddress), .RESPMEM_MUST_COPY)
        }
    case .stream(let source):
        let box = Unmanaged.passRetained(StreamState(source))
        created = MHD_create_response_from_callback(
            UInt64.max, 64 * 1024, readChunk, box.toOpaque(), freeStream)
        if created == nil { box.release() }
    }
    guard let created else { return .NO }
    for (name, value) in response.headers { _ = MHD_add_response_header(created, name, value) }
    let result = MHD_queue_response(connection, UInt32(response.status), created)
    MHD_destroy_response(created)
    return result
}

private func requestCompleted(
    cls: UnsafeMutableRawPointer?, connection: OpaquePointer?, conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    code: MHD_RequestTerminationCode
) {
    guard let conCls, let raw = conCls.pointee else { return }
    Unmanaged<RequestState>.fromOpaque(raw).release()
    conCls.pointee = nil
    if let cls { Unmanaged<ServerState>.fromOpaque(cls).takeUnretainedValue().inFlight.subtract(1, ordering: .relaxed) }
}

// MARK: - streamed bodies

private final class StreamState {
    let source: any ChunkSource
    var pending: [UInt8] = []
    var offset = 0
    init(_ source: any ChunkSource) { self.source = source }
}

private func readChunk(cls: UnsafeMutableRawPointer?, position: UInt64, buffer: UnsafeMutablePointer<CChar>?, max: Int)
    -> Int
{
    guard let cls, let buffer else { return -2 }
    let stream = Unmanaged<StreamState>.fromOpaque(cls).takeUnretainedValue()
    while stream.offset >= stream.pending.count {
        do {
            guard let next = try stream.source.nextChunk() else { return -1 }  // end of stream
            stream.pending = next
            stream.offset = 0
        } catch {
            return -2  // end with error: the client sees the connection cut
        }
    }
    let n = min(max, stream.pending.count - stream.offset)
    stream.pending.withUnsafeBytes { src in
        UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + stream.offset, byteCount: n)
    }
    stream.offset += n
    return n
}

private func freeStream(cls: UnsafeMutableRawPointer?) {
    guard let cls else { return }
    let stream = Unmanaged<StreamState>.fromOpaque(cls)
    stream.takeUnretainedValue().source.close()
    stream.release()
}
