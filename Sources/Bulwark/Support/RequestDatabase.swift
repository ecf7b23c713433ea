import HTTPServer
import Postgres

/// The database connection a request uses: borrowed from the pool on first use, returned when the
/// request's response is ready. One request, one connection, whatever number of queries.
public final class RequestDatabase: @unchecked Sendable {
    private let pool: Pool
    private var borrowed: Connection?

    init(pool: Pool) { self.pool = pool }

    public func connection() throws -> Connection {
        if let borrowed { return borrowed }
        let c = try pool.acquire()
        borrowed = c
        return c
    }

    func release() {
        if let borrowed { pool.release(borrowed) }
        borrowed = nil
    }
}

enum DatabaseKey: ContextKey { typealias Value = RequestDatabase }

extension Context {
    /// The request's database connection (borrowed on first use).
    public func db() throws -> Connection {
        guard let scope = self[DatabaseKey.self] else { throw APIError.internal() }
        return try scope.connection()
    }
}

extension Middlewares {
    /// Gives the request a lazily borrowed connection and returns it to the pool afterwards.
    static func database(_ pool: Pool) -> Middleware {
        { request, context, next in
            let scope = RequestDatabase(pool: pool)
            context[DatabaseKey.self] = scope
            defer { scope.release() }
            return try next(request, context)
        }
    }
}
