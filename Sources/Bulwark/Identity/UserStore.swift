import Foundation
import HTTPServer
import Postgres

/// Users' SQL. Users are deactivated, never deleted.
public struct UserStore: Sendable {
    /// The advisory lock user updates take (an arbitrary constant of this feature's own).
    static let adminChangeLock = 7_302_114_001

    public init() {}

    static let columns: SQL = "id, email, name, role, vendor_id, active, created_at, updated_at"

    /// The user with this email, created with the given name and role when there is none (for the CLI).
    /// With an `actor`, a user it creates is audited (`user.created`) in the same transaction.
    public func findOrCreate(
        _ db: Connection, email: String, name: String, role: Role, vendorID: UUID?, actor: Actor? = nil
    ) throws -> UUID {
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
        let id: UUID = try row.decode("id")
        if let actor {
            try AuditLog.record(
                db, actor, action: "user.created", resourceType: "user", resourceID: id.uuidString.lowercased(),
                changes: .object([
                    ("email", .string(email)), ("name", .string(name)), ("role", .string(role.rawValue)),
                    ("vendor_id", vendorID.map { .uuid($0) } ?? .null),
                ]))
        }
        return id
    }

    public func get(_ db: Connection, id: UUID, forUpdate: Bool = false) throws -> User? {
        let lock: SQL = forUpdate ? " FOR UPDATE" : ""
        return try db.query("SELECT \(UserStore.columns) FROM users WHERE id = \(id)\(lock)").first.map(decode)
    }

    public func list(_ db: Connection, role: Role?, vendorID: UUID?, active: Bool?, limit: Int, after: PageCursor?)
        throws -> Page<User>
    {
        var conditions: [SQL] = ["TRUE"]
        if let role { conditions.append("role = \(role.rawValue)") }
        if let vendorID { conditions.append("vendor_id = \(vendorID)") }
        if let active { conditions.append("active = \(active)") }
        if let after { conditions.append("(created_at, id) > (\(after.createdAt), \(after.id))") }
        let rows = try db.query(
            """
            SELECT \(UserStore.columns) FROM users WHERE \(SQL.joined(conditions, separator: " AND ")) \
            ORDER BY created_at, id LIMIT \(limit + 1)
            """
        ).rows
        return page(try rows.map(decode), limit: limit) { PageCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    public func create(_ db: Connection, _ f: UserFields, actor: Actor) throws -> User {
        try db.transaction { tx in
            let row = try tx.query(
                """
                INSERT INTO users (email, name, role, vendor_id, active) \
                VALUES (\(f.email), \(f.name), \(f.role.rawValue), \(f.vendorID), \(f.active)) RETURNING \(UserStore.columns)
                """
            ).first
            guard let row else { throw APIError.internal() }
            let user = try decode(row)
            try AuditLog.record(
                tx, actor, action: "user.created", resourceType: "user", resourceID: user.id.uuidString.lowercased(),
                changes: .object([("after", .object(user.auditJSON))]))
            return user
        }
    }

    public func update(_ db: Connection, id: UUID, actor: Actor, change: (UserFields) throws -> UserFields) throws
        -> User
    {
        try db.transaction { tx in
            // User changes take turns (they are rare), so two admins demoting each other at once cannot both
            // succeed and leave no admin at all.
            try tx.execute("SELECT pg_advisory_xact_lock(\(UserStore.adminChangeLock))")
            guard let current = try get(tx, id: id, forUpdate: true) else { throw APIError.notFound() }
            let before = UserFields(
                email: current.email, name: current.name, role: current.role, vendorID: current.vendorID,
                active: current.active)
            let f = try change(before)
            if f == before { return current }
            if before.role == .admin && before.active && !(f.role == .admin && f.active) {
                let others: Int =
                    try tx.query(
                        "SELECT count(*)::int8 AS n FROM users WHERE role = 'admin' AND active AND id <> \(id)"
                    ).first?.decode("n") ?? 0
                if others == 0 {
                    throw APIError.conflict("This is the last active admin; make another admin first.")
                }
            }
            let row = try tx.query(
                """
                UPDATE users SET email = \(f.email), name = \(f.name), role = \(f.role.rawValue), vendor_id = \(f.vendorID), \
                active = \(f.active), updated_at = now() WHERE id = \(id) RETURNING \(UserStore.columns)
                """
            ).first
            guard let row else { throw APIError.notFound() }
            let user = try decode(row)
            let action = before.active && !f.active ? "user.deactivated" : "user.updated"
            try AuditLog.record(
                tx, actor, action: action, resourceType: "user", resourceID: id.uuidString.lowercased(),
                changes: AuditLog.diff(before: current.auditJSON, after: user.auditJSON))
            return user
        }
    }

    func decode(_ row: Row) throws -> User {
        guard let role = Role(rawValue: try row.decode("role")) else {
            throw PostgresError.decoding(column: "role", message: "unknown role")
        }
        return User(
            id: try row.decode("id"), email: try row.decode("email"), name: try row.decode("name"), role: role,
            vendorID: try row.decode("vendor_id"), active: try row.decode("active"),
            createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"))
    }
}

/// Cuts a page from `limit + 1` rows: the extra row only says there is a next page.
func page<T>(_ rows: [T], limit: Int, cursor: (T) -> PageCursor) -> Page<T> {
    guard rows.count > limit else { return Page(items: rows, nextCursor: nil) }
    let items = Array(rows.prefix(limit))
    return Page(items: items, nextCursor: items.last.map { cursor($0).encoded })
}
