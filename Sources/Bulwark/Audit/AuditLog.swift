import Foundation
import HTTPServer
import Postgres

/// Who did a change, from where: taken from the request for the audit trail.
public struct Actor: Sendable {
    public let userID: UUID?
    public let role: String?
    public let requestID: String?
    public let clientAddress: String?

    public static let system = Actor(userID: nil, role: "system", requestID: nil, clientAddress: nil)

    public init(userID: UUID?, role: String?, requestID: String?, clientAddress: String?) {
        self.userID = userID
        self.role = role
        self.requestID = requestID
        self.clientAddress = clientAddress
    }

    init(_ principal: Principal, _ request: Request, _ context: Context) {
        self.init(
            userID: principal.userID, role: principal.role.rawValue, requestID: context.requestID,
            clientAddress: request.remoteAddress)
    }
}

/// Appends audit events; always called inside the transaction that makes the change.
public enum AuditLog {
    public static func record(
        _ db: Connection, _ actor: Actor, action: String, resourceType: String, resourceID: String, changes: JSON
    ) throws {
        try db.execute(
            """
            INSERT INTO audit_events (actor_user_id, actor_role, action, resource_type, resource_id, changes, request_id, client_address) \
            VALUES (\(actor.userID), \(actor.role), \(action), \(resourceType), \(resourceID), \(JSONB(utf8: changes.bytes)), \
            \(actor.requestID), \(actor.clientAddress))
            """)
    }

    /// `{"field": {"before": …, "after": …}}` for the fields that differ.
    public static func diff(before: [(String, JSON)], after: [(String, JSON)]) -> JSON {
        var out: [(String, JSON)] = []
        for (key, new) in after {
            let old = before.first { $0.0 == key }?.1 ?? .null
            if old != new { out.append((key, .object([("before", old), ("after", new)]))) }
        }
        return .object(out)
    }
}
