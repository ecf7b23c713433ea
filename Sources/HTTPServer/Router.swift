/// Per-request state shared along the middleware chain. Used by one worker thread at a time.
public final class Context: @unchecked Sendable {
    /// Set by the request-id middleware (echoed from `X-Request-Id` or generated).
    public var requestID: String = ""
    /// The matched route's template (`/v1/vendors/{id}`), or nil when no route matched.
    public internal(set) var route: String?
    /// Monotonic nanoseconds when the request was complete and handed to the chain.
    public let startedAt: UInt64
    private var values: [ObjectIdentifier: Any] = [:]
    var matchedHandler: Handler?
    var routeError: APIError?

    /// True when a route matched both path and method (false for 404 and 405).
    public var hasMatchedRoute: Bool { matchedHandler != nil }

    public init(startedAt: UInt64 = monotonicNanoseconds()) { self.startedAt = startedAt }

    /// Typed storage for what middleware learns (the authenticated user, a borrowed connection …).
    public subscript<K: ContextKey>(_ key: K.Type) -> K.Value? {
        get { values[ObjectIdentifier(key)] as? K.Value }
        set { values[ObjectIdentifier(key)] = newValue }
    }
}

public protocol ContextKey {
    associatedtype Value
}

public typealias Handler = @Sendable (Request, Context) throws -> Response
/// Every middleware has this one shape: do something, call `next` (or not), adjust the response.
public typealias Middleware = @Sendable (Request, Context, Handler) throws -> Response

/// Routes by method and path template with `{name}` parameters. Unknown path → 404; known path, other
/// method → 405 with `Allow`. HEAD is served by the GET route.
public struct Router: Sendable {
    public struct Route: Sendable {
        public let method: String
        public let template: String
        let segments: [Segment]
        let handler: Handler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: String, _ template: String, _ handler: @escaping Handler) {
        let segments: [Segment] = template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.hasPrefix("{") && $0.hasSuffix("}")
                ? .parameter(String($0.dropFirst().dropLast())) : .literal(String($0))
        }
        precondition(
            !routes.contains { $0.method == method && $0.template == template }, "route \(method) \(template) twice")
        routes.append(Route(method: method, template: template, segments: segments, handler: handler))
    }

    public enum Match {
        case found(Route, [String: String])
        case methodNotAllowed(template: String, allowed: [String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let wanted = method == "HEAD" ? "GET" : method
        var allowed: [String] = []
        var template: String?
        for route in routes where route.segments.count == parts.count {
            var parameters: [String: String] = [:]
            var ok = true
            for (segment, part) in zip(route.segments, parts) {
                switch segment {
                case .literal(let l): if l != part { ok = false }
                case .parameter(let name):
                    if part.isEmpty { ok = false } else { parameters[name] = String(part) }
                }
                if !ok { break }
            }
            guard ok else { continue }
            if route.method == wanted { return .found(route, parameters) }
            allowed.append(route.method)
            template = template ?? route.template
        }
        if let template { return .methodNotAllowed(template: template, allowed: allowed) }
        return .notFound
    }

    /// One handler: route, then run the middleware chain (outermost first) around the route's handler.
    /// Routing happens before the chain so middleware knows the route template; a routing failure is
    /// thrown at the end of the chain, so error rendering, logging and metrics see it like any error.
    public func handler(middleware: [Middleware]) -> Handler {
        let router = self
        let dispatch: Handler = { request, context in
            if let error = context.routeError { throw error }
            guard let handler = context.matchedHandler else { throw APIError.notFound() }
            return try handler(request, context)
        }
        let chain = middleware.reversed().reduce(dispatch) { next, m in
            { request, context in try m(request, context, next) }
        }
        return { request, context in
            var request = request
            switch router.match(method: request.method, path: request.path) {
            case .found(let route, let parameters):
                context.route = route.template
                context.matchedHandler = route.handler
                request.pathParameters = parameters
            case .methodNotAllowed(let template, let allowed):
                context.route = template
                context.routeError = APIError.methodNotAllowed(allowed: allowed)
            case .notFound:
                context.routeError = APIError.notFound("No route matches \(request.method) \(request.path).")
            }
            return try chain(request, context)
        }
    }
}
