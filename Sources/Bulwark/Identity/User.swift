import Foundation
import HTTPServer
import Postgres

public struct User: Sendable {
    public var id: UUID
    public var email: String
    public var name: String
    public var role: Role
    public var vendorID: UUID?
    public var active: Bool
    public var createdAt: Date
    public var updatedAt: Date

    var auditJSON: [(String, JSON)] {
        [
            ("email", .string(email)), ("name", .string(name)), ("role", .string(role.rawValue)),
            ("vendor_id", .uuid(vendorID)), ("active", .bool(active)),
        ]
    }

    public var json: JSON {
        .object(
            [("id", .uuid(id))] + auditJSON + [("created_at", .time(createdAt)), ("updated_at", .time(updatedAt))])
    }
}

public struct UserFields: Sendable, Equatable {
    public var email: String
    public var name: String
    public var role: Role
    public var vendorID: UUID?
    public var active: Bool
}

public struct Token: Sendable {
    public var id: UUID
    public var userID: UUID
    public var name: String
    public var prefix: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?

    public var json: JSON {
        .object([
            ("id", .uuid(id)), ("user_id", .uuid(userID)), ("name", .string(name)),
            ("prefix", .string(TokenSecret.marker + prefix)), ("created_at", .time(createdAt)),
            ("expires_at", .time(expiresAt)), ("revoked_at", .time(revokedAt)), ("last_used_at", .time(lastUsedAt)),
        ])
    }
}

/// Reads and validates user and token bodies.
enum UserInput {
    static let fields: Set<String> = ["email", "name", "role", "vendor_id", "active"]

    static func create(_ body: [(String, JSON)]) throws -> UserFields {
        let r = FieldReader(body)
        r.rejectUnknown(fields)
        let email = r.string("email", length: 3...254)
        let name = r.string("name", length: 1...200)
        let role = r.enumeration("role", Role.self)
        for (key, present) in [("email", email.isPresent), ("name", name.isPresent), ("role", role.isPresent)]
        where !present {
            r.fail(key, "is required")
        }
        var f = UserFields(
            email: email.value ?? "", name: name.value ?? "", role: role.value ?? .auditor,
            vendorID: r.uuid("vendor_id", nullable: true).value, active: r.bool("active").value ?? true)
        if let e = email.value, !Validate.email(e) { r.fail("email", "must be an email address") }
        checkVendor(r, &f, rolePresent: role.value != nil)
        try r.throwIfInvalid()
        return f
    }

    static func patch(_ body: [(String, JSON)], onto current: UserFields) throws -> UserFields {
        let r = FieldReader(body)
        r.rejectUnknown(fields)
        var f = current
        if let e = r.string("email", length: 3...254).value {
            if Validate.email(e) { f.email = e } else { r.fail("email", "must be an email address") }
        }
        if let n = r.string("name", length: 1...200).value { f.name = n }
        if let role = r.enumeration("role", Role.self).value { f.role = role }
        switch r.uuid("vendor_id", nullable: true) {
        case .value(let v): f.vendorID = v
        case .null: f.vendorID = nil
        default: break
        }
        if let a = r.bool("active").value { f.active = a }
        checkVendor(r, &f, rolePresent: true)
        try r.throwIfInvalid()
        return f
    }

    private static func checkVendor(_ r: FieldReader, _ f: inout UserFields, rolePresent: Bool) {
        guard rolePresent else { return }
        if f.role == .vendor && f.vendorID == nil { r.fail("vendor_id", "is required for role vendor") }
        if f.role != .vendor && f.vendorID != nil { r.fail("vendor_id", "is only for role vendor") }
    }

    static func token(_ body: [(String, JSON)], now: Date) throws -> (String, Date?) {
        let r = FieldReader(body)
        r.rejectUnknown(["name", "expires_at"])
        let name = r.string("name", length: 1...200)
        if !name.isPresent { r.fail("name", "is required") }
        var expires: Date?
        switch r.string("expires_at", nullable: true, length: 1...64) {
        case .value(let text):
            if let d = Timestamp.parse(text) {
                if d <= now { r.fail("expires_at", "must be in the future") } else { expires = d }
            } else {
                r.fail("expires_at", "must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z")
            }
        default: break
        }
        try r.throwIfInvalid()
        return (name.value ?? "", expires)
    }
}
