import Synchronization

/// The middleware every server uses. Each has the one shape `(request, context, next) -> response`.
public enum Middlewares {
    /// Echoes a sane `X-Request-Id` (1–128 visible ASCII characters) or generates one; sets it on the response.
    public static let requestID: Middleware = { request, context, next in
        if let given = request.header("x-request-id"), isAcceptableRequestID(given) {
            context.requestID = given
        } else {
            context.requestID = generateRequestID()
        }
        var response = try next(request, context)
        response.setHeader("X-Request-Id", context.requestID)
        return response
    }

    /// One JSON line per request: method, route, status, duration, request id. `observe` also hears each
    /// request (for metrics) with the route template (or "unmatched") and the duration in seconds.
    public static func accessLog(
        _ logger: Logger,
        observe: @escaping @Sendable (_ method: String, _ route: String, _ status: Int, _ seconds: Double) -> Void
    ) -> Middleware {
        { request, context, next in
            let response = try next(request, context)
            let seconds = Double(monotonicNanoseconds() - context.startedAt) / 1e9
            let route = context.route ?? "unmatched"
            observe(request.method, route, response.status, seconds)
            if logger.level <= .info {
                logger.info(
                    "request",
                    [
                        ("method", .string(request.method)), ("route", .string(route)), ("path", .string(request.path)),
                        ("status", .int(response.status)), ("duration_ms", .double((seconds * 1e6).rounded() / 1e3)),
                        ("request_id", .string(context.requestID)), ("client", .string(request.remoteAddress)),
                    ])
            }
            return response
        }
    }

    /// Turns thrown errors into problem+json. `translate` maps errors this module does not know (database
    /// errors, say) to API errors; anything left becomes a generic 500 whose details go only to the log.
    public static func errorRendering(_ logger: Logger, translate: @escaping @Sendable (Error) -> APIError?)
        -> Middleware
    {
        { request, context, next in
            do {
                return try next(request, context)
            } catch let error as APIError {
                return error.response(requestID: context.requestID)
            } catch {
                if let apiError = translate(error) {
                    if apiError.status >= 500 {
                        logger.warn(
                            "request failed",
                            [("request_id", .string(context.requestID)), ("error", .string(String(describing: error)))])
                    }
                    return apiError.response(requestID: context.requestID)
                }
                logger.error(
                    "unhandled error",
                    [
                        ("request_id", .string(context.requestID)), ("route", .string(context.route ?? "unmatched")),
                        ("error", .string(String(describing: error))),
                    ])
                return APIError.internal().response(requestID: context.requestID)
            }
        }
    }

    /// Answers 413 for a body the server refused to read in full.
    public static let bodyLimit: Middleware = { request, context, next in
        if let limit = request.bodyLimitExceeded { throw APIError.payloadTooLarge(limit: limit) }
        return try next(request, context)
    }

    static func isAcceptableRequestID(_ s: String) -> Bool {
        let u = s.utf8
        return !u.isEmpty && u.count <= 128 && u.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    /// 32 hex digits: a random per-process prefix and a mixed counter. Unique, unguessable enough for
    /// tracing, and without a system call per request.
    static func generateRequestID() -> String {
        let n = requestCounter.add(1, ordering: .relaxed).newValue
        var z = requestSeed &+ UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return hex16(requestPrefix) + hex16(z)
    }

    private static func hex16(_ v: UInt64) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 16)
        for k in 0..<16 { out[15 - k] = digits[Int((v >> (UInt64(k) * 4)) & 0xf)] }
        return String(decoding: out, as: UTF8.self)
    }
}

private let requestCounter = Atomic<Int>(0)
private let requestSeed = UInt64.random(in: .min ... .max)
private let requestPrefix = UInt64.random(in: .min ... .max)
