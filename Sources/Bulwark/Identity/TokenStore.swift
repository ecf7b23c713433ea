import Crypto
import Foundation
import Postgres

/// API tokens: created shown-once, looked up by prefix, verified by hash in constant time.
public struct TokenStore: Sendable {
    public init() {}

    /// The principal behind a token, or nil when the token is unknown, wrong, expired, revoked, or its user
    /// is deactivated. Notes the use (at most once a minute per token, to keep reads cheap).
    public func authenticate(_ db: Connection, secret: TokenSecret, now: Date) throws -> Principal? {
        guard let prefix = secret.lookupPrefix else { return nil }
        guard
            let row = try db.query(
                """
                SELECT t.id, t.user_id, u.role, u.vendor_id, u.active, t.expires_at, t.revoked_at, t.hash, t.last_used_at \
                FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.prefix = \(prefix)
                """
            ).first
        else { return nil }
        let stored: ByteA = try row.decode("hash")
        guard constantTimeEquals(stored.bytes, secret.hash) else { return nil }
        guard try row.decode("active", as: Bool.self), try row.decode("revoked_at", as: Date?.self) == nil else {
            return nil
        }
        if let expires = try row.decode("expires_at", as: Date?.self), expires <= now { return nil }
        guard let role = Role(rawValue: try row.decode("role")) else { return nil }
        let tokenID: UUID = try row.decode("id")
        let lastUsed = try row.decode("last_used_at", as: Date?.self)
        if lastUsed.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            try db.execute("UPDATE api_tokens SET last_used_at = \(now) WHERE id = \(tokenID)")
        }
        return Principal(
            userID: try row.decode("user_id"), role: role, vendorID: try row.decode("vendor_id"), tokenID: tokenID)
    }

    static let columns: SQL = "id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at"

    public func list(_ db: Connection, userID: UUID, limit: Int, after: PageCursor?) throws -> Page<Token> {
        let position: SQL = after.map { "AND (created_at, id) > (\($0.createdAt), \($0.id))" } ?? ""
        let rows = try db.query(
            """
            SELECT \(TokenStore.columns) FROM api_tokens WHERE user_id = \(userID) \(position) \
            ORDER BY created_at, id LIMIT \(limit + 1)
            """
        ).rows
        return page(try rows.map(decode), limit: limit) { PageCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    public func get(_ db: Connection, id: UUID) throws -> Token? {
        try db.query("SELECT \(TokenStore.columns) FROM api_tokens WHERE id = \(id)").first.map(decode)
    }

    /// Revokes a token; the next request with it is refused. False when it was already revoked.
    public func revoke(_ db: Connection, id: UUID, actor: Actor) throws -> Bool {
        try db.transaction { tx in
            let n = try tx.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL")
            if n == 0 { return false }
            try AuditLog.record(
                tx, actor, action: "token.revoked", resourceType: "api_token", resourceID: id.uuidString.lowercased(),
                changes: .object([("revoked", .bool(true))]))
            return true
        }
    }

    func decode(_ row: Row) throws -> Token {
        Token(
            id: try row.decode("id"), userID: try row.decode("user_id"), name: try row.decode("name"),
            prefix: try row.decode("prefix"), createdAt: try row.decode("created_at"),
            expiresAt: try row.decode("expires_at"), revokedAt: try row.decode("revoked_at"),
            lastUsedAt: try row.decode("last_used_at"))
    }

    /// Creates a token for a user and returns its id and its secret (which is never stored).
    public func create(_ db: Connection, userID: UUID, name: String, expiresAt: Date?) throws -> (UUID, TokenSecret) {
        let secret = TokenSecret.generate()
        guard let prefix = secret.lookupPrefix else { throw PostgresError.server(sqlstate: "", message: "bad token") }
        let row = try db.query(
            """
            INSERT INTO api_tokens (user_id, name, prefix, hash, expires_at) \
            VALUES (\(userID), \(name), \(prefix), \(ByteA(secret.hash)), \(expiresAt)) RETURNING id
            """
        ).first
        guard let row else { throw PostgresError.server(sqlstate: "", message: "INSERT returned no row") }
        return (try row.decode("id"), secret)
    }
}
