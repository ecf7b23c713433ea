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

public struct UserStore: Sendable {
    public init() {}

    /// The user with this email, created with the given name and role when there is none.
    public func findOrCreate(_ db: Connection, email: String, name: String, role: Role, vendorID: UUID?) throws -> UUID
    {
        if let existing = try db.query("SELECT id FROM users WHERE lower(email) = lower(\(email))").first {
            return try existing.decode("id")
        }
        let row = try db.query(
            """
            INSERT INTO users (email, name, role, vendor_id) VALUES (\(email), \(name), \(role.rawValue), \(vendorID)) \
            RETURNING id
            """
        ).first
        guard let row else { throw PostgresError.server(sqlstate: "", message: "INSERT returned no row") }
        return try row.decode("id")
    }
}
