import Crypto
import Foundation
import HTTPServer
import Postgres

public struct AuditEvent: Sendable {
    public var seq: Int
    public var occurredAt: Date
    public var actorUserID: UUID?
    public var actorRole: String?
    public var action: String
    public var resourceType: String
    public var resourceID: String
    public var changes: JSONB
    public var requestID: String?
    public var clientAddress: String?
    public var prevHash: [UInt8]
    public var hash: [UInt8]

    var json: JSON {
        .object([
            ("id", .int(seq)), ("occurred_at", .time(occurredAt)),
            ("actor", .object([("user_id", .uuid(actorUserID)), ("role", .string(actorRole))])),
            ("action", .string(action)), ("resource_type", .string(resourceType)), ("resource_id", .string(resourceID)),
            ("changes", (try? JSONParser.parse(changes.utf8)) ?? .null), ("request_id", .string(requestID)),
            ("client_address", .string(clientAddress)), ("prev_hash", .string(Encoding.hex(prevHash))),
            ("hash", .string(Encoding.hex(hash))),
        ])
    }
}

public struct AuditFilter: Sendable {
    public var resourceType: String?
    public var resourceID: String?
    public var actor: UUID?
    public var since: Date?
    public var until: Date?
}

/// Reading and verifying the audit trail (writing is `AuditLog.record`).
public struct AuditStore: Sendable {
    public init() {}

    static let columns: SQL = """
        seq, occurred_at, actor_user_id, actor_role, action, resource_type, resource_id, changes, request_id, \
        client_address, prev_hash, hash
        """

    /// Newest first; the cursor is the last seq seen.
    public func list(_ db: Connection, filter: AuditFilter, limit: Int, before: Int?) throws -> (
        [AuditEvent], Int?
    ) {
        var conditions: [SQL] = ["TRUE"]
        if let t = filter.resourceType { conditions.append("resource_type = \(t)") }
        if let r = filter.resourceID { conditions.append("resource_id = \(r)") }
        if let a = filter.actor { conditions.append("actor_user_id = \(a)") }
        if let s = filter.since { conditions.append("occurred_at >= \(s)") }
        if let u = filter.until { conditions.append("occurred_at < \(u)") }
        if let before { conditions.append("seq < \(before)") }
        let rows = try db.query(
            """
            SELECT \(AuditStore.columns) FROM audit_events WHERE \(SQL.joined(conditions, separator: " AND ")) \
            ORDER BY seq DESC LIMIT \(limit + 1)
            """
        ).rows
        var events = try rows.map(decode)
        var next: Int?
        if events.count > limit {
            events.removeLast()
            next = events.last?.seq
        }
        return (events, next)
    }

    public struct Verification: Sendable {
        public var checked: Int
        /// The first row whose hash or link does not match, and why.
        public var firstBroken: (seq: Int, reason: String)?
    }

    /// Recomputes the chain in Swift from each row's canonical form and compares with what is stored.
    public func verify(_ db: Connection, progress: (Int) -> Void = { _ in }) throws -> Verification {
        var previous = [UInt8](repeating: 0, count: 32)
        var checked = 0
        var after = 0
        while true {
            let rows = try db.query(
                """
                SELECT e.seq, e.prev_hash, e.hash, audit_canonical(e) AS canonical FROM audit_events e \
                WHERE e.seq > \(after) ORDER BY e.seq LIMIT 5000
                """
            ).rows
            if rows.isEmpty { return Verification(checked: checked, firstBroken: nil) }
            for row in rows {
                let seq: Int = try row.decode("seq")
                let prev = try row.decode("prev_hash", as: ByteA.self).bytes
                let stored = try row.decode("hash", as: ByteA.self).bytes
                if seq != checked + 1 {
                    return Verification(checked: checked, firstBroken: (seq, "a row before it is missing"))
                }
                if prev != previous {
                    return Verification(checked: checked, firstBroken: (seq, "its link to the previous row is broken"))
                }
                let h = SHA256()
                h.update(prev)
                h.update(try row.decode("canonical", as: String.self))
                if h.finish() != stored {
                    return Verification(checked: checked, firstBroken: (seq, "its content does not match its hash"))
                }
                previous = stored
                checked += 1
                after = seq
            }
            progress(checked)
        }
    }

    func decode(_ row: Row) throws -> AuditEvent {
        AuditEvent(
            seq: try row.decode("seq"), occurredAt: try row.decode("occurred_at"),
            actorUserID: try row.decode("actor_user_id"), actorRole: try row.decode("actor_role"),
            action: try row.decode("action"), resourceType: try row.decode("resource_type"),
            resourceID: try row.decode("resource_id"), changes: try row.decode("changes"),
            requestID: try row.decode("request_id"), clientAddress: try row.decode("client_address"),
            prevHash: try row.decode("prev_hash", as: ByteA.self).bytes,
            hash: try row.decode("hash", as: ByteA.self).bytes)
    }
}

/// `GET /v1/audit-events`: admins and auditors.
struct AuditRoutes {
    let store = AuditStore()

    func register(_ router: inout Router) {
        router.add("GET", "/v1/audit-events") { request, context in try list(request, context) }
    }

    func list(_ request: Request, _ context: Context) throws -> Response {
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor", "resource_type", "resource_id", "actor", "since", "until"])
        var filter = AuditFilter()
        filter.resourceType = q.string("resource_type", maxLength: 64)
        filter.resourceID = q.string("resource_id", maxLength: 200)
        filter.actor = q.uuid("actor")
        filter.since = q.time("since")
        filter.until = q.time("until")
        let limit = q.limit()
        var before: Int?
        if let c = request.queryValue("cursor") {
            if let bytes = Encoding.base64URLDecode(c), let n = Int(String(decoding: bytes, as: UTF8.self)), n > 0 {
                before = n
            } else {
                q.fail("cursor", "is not a cursor this server issued")
            }
        }
        try q.throwIfInvalid()
        let (events, next) = try store.list(try context.db(), filter: filter, limit: limit, before: before)
        let cursor: JSON = next.map { .string(Encoding.base64URL(Array(String($0).utf8))) } ?? .null
        return .json(200, .object([("items", .array(events.map(\.json))), ("next_cursor", cursor)]))
    }
}
