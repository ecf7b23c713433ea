/// What went wrong talking to PostgreSQL, classified so callers can map it to a status without parsing text.
public enum PostgresError: Error, CustomStringConvertible, Sendable {
    /// A unique constraint rejected the row (SQLSTATE 23505); `constraint` names it.
    case uniqueViolation(constraint: String, message: String)
    /// A foreign key rejected the row (23503).
    case foreignKeyViolation(constraint: String, message: String)
    /// A check constraint rejected the row (23514).
    case checkViolation(constraint: String, message: String)
    /// The transaction lost a race (40001 serialization failure, 40P01 deadlock); retrying may succeed.
    case serializationFailure(message: String)
    /// The server cannot be reached or the connection broke (class 08, 57P01–57P03, or libpq lost the socket).
    case connectionFailure(message: String)
    /// No pooled connection became free within the pool's wait bound.
    case poolTimeout(waitedSeconds: Double)
    /// The pool was closed (the server is shutting down).
    case poolClosed
    /// A column could not be decoded into the requested type.
    case decoding(column: String, message: String)
    /// A lazily begun transaction's guard statement returned no row (see `Connection.beginLazily`).
    case setupRefused
    /// Any other server error, with its SQLSTATE.
    case server(sqlstate: String, message: String)

    public var description: String {
        switch self {
        case .uniqueViolation(let c, let m): return "unique violation on \(c): \(m)"
        case .foreignKeyViolation(let c, let m): return "foreign key violation on \(c): \(m)"
        case .checkViolation(let c, let m): return "check violation on \(c): \(m)"
        case .serializationFailure(let m): return "serialization failure: \(m)"
        case .connectionFailure(let m): return "connection failure: \(m)"
        case .poolTimeout(let s): return "no database connection free after \(s)s"
        case .poolClosed: return "the connection pool is closed"
        case .decoding(let c, let m): return "cannot decode column \"\(c)\": \(m)"
        case .setupRefused: return "the transaction's guard statement returned no row"
        case .server(let s, let m): return "server error \(s): \(m)"
        }
    }

    /// True for errors that mean "the database is unavailable right now" (a 503 with Retry-After to a client).
    public var isUnavailable: Bool {
        switch self {
        case .connectionFailure, .poolTimeout, .poolClosed: return true
        default: return false
        }
    }

    static func classify(sqlstate: String, constraint: String, message: String) -> PostgresError {
        switch sqlstate {
        case "23505": return .uniqueViolation(constraint: constraint, message: message)
        case "23503": return .foreignKeyViolation(constraint: constraint, message: message)
        case "23514": return .checkViolation(constraint: constraint, message: message)
        case "40001", "40P01": return .serializationFailure(message: message)
        case "57P01", "57P02", "57P03": return .connectionFailure(message: message)
        default:
            if sqlstate.hasPrefix("08") { return .connectionFailure(message: message) }
            return .server(sqlstate: sqlstate, message: message)
        }
    }
}
