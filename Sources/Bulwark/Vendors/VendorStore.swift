import Crypto
import Foundation
import HTTPServer
import Postgres

/// A page of a list, with the cursor for the next one.
public struct Page<T> {
    public var items: [T]
    public var nextCursor: String?
}

public struct VendorFilter: Sendable {
    public var tier: Tier?
    public var status: VendorStatus?
    public var nameContains: String?
    public var tag: String?
    public var includeDeleted = false
    public var certification: String?
    public var sort: VendorSort = .created
}

/// Vendors' SQL. Every read takes the caller's scope: a vendor user sees only its own vendor.
public struct VendorStore: Sendable {
    public init() {}

    // Keep bench/vendor_by_id.sql identical to the load-by-id statement this makes.
    static let columns: SQL = """
        id, name, legal_name, website, country, services, tier, status, owner_user_id, contacts, tags, \
        contract_start_date, contract_renewal_date, contract_notice_days, contract_auto_renew, version, created_at, \
        updated_at, deleted_at
        """

    static func scoped(_ scope: VendorScope) -> SQL {
        switch scope {
        case .all: return "TRUE"
        case .vendor(let id): return "id = \(id)"
        }
    }

    /// The vendor's latest assessment: the most recently approved one, else the newest open one.
    static let latestJoin: SQL = """
        LEFT JOIN LATERAL (SELECT a.id AS la_id, a.status AS la_status, a.approved_score AS la_score, \
        a.approved_rating AS la_rating, a.approved_certification AS la_certification, a.approved_at AS la_approved_at \
        FROM assessments a WHERE a.vendor_id = vendors.id AND a.status <> 'cancelled' \
        ORDER BY (a.status = 'approved') DESC, coalesce(a.approved_at, a.created_at) DESC, a.id DESC LIMIT 1) la ON TRUE
        """

    static let latestColumns: SQL = "la_id, la_status, la_score, la_rating, la_certification, la_approved_at"

    public func get(_ db: Connection, id: UUID, scope: VendorScope, forUpdate: Bool = false) throws -> Vendor? {
        if forUpdate {
            // A row lock cannot reach through the outer join; the latest assessment is not needed to change a vendor.
            return try db.query(
                "SELECT \(VendorStore.columns) FROM vendors WHERE id = \(id) AND \(VendorStore.scoped(scope)) FOR UPDATE"
            ).first.map(decode)
        }
        return try db.query(
            """
            SELECT \(VendorStore.columns), \(VendorStore.latestColumns) FROM vendors \(VendorStore.latestJoin) \
            WHERE id = \(id) AND \(VendorStore.scoped(scope))
            """
        ).first.map(decode)
    }

    public func list(
        _ db: Connection, scope: VendorScope, filter: VendorFilter, limit: Int, after cursor: VendorCursor?
    )
        throws -> Page<Vendor>
    {
        var conditions: [SQL] = [VendorStore.scoped(scope)]
        if !filter.includeDeleted { conditions.append("deleted_at IS NULL") }
        if let tier = filter.tier { conditions.append("tier = \(tier.rawValue)") }
        if let status = filter.status { conditions.append("status = \(status.rawValue)") }
        if let tag = filter.tag { conditions.append("\(tag)::text = ANY (tags)") }
        if let q = filter.nameContains {
            conditions.append("name ILIKE '%' || \(PageCursor.escapeLike(q)) || '%'")
        }
        if let c = filter.certification { conditions.append("la_certification = \(c)") }
        let sort = filter.sort
        if let cursor { conditions.append(sort.after(cursor)) }
        let rows = try db.query(
            """
            SELECT \(VendorStore.columns), \(VendorStore.latestColumns) FROM vendors \(VendorStore.latestJoin) \
            WHERE \(SQL.joined(conditions, separator: " AND ")) ORDER BY \(sort.orderBy) LIMIT \(limit + 1)
            """
        ).rows
        let items = try rows.map(decode)
        guard items.count > limit else { return Page(items: items, nextCursor: nil) }
        let kept = Array(items.prefix(limit))
        return Page(items: kept, nextCursor: kept.last.map { sort.cursor(for: $0).encoded })
    }

    public func create(_ db: Connection, _ f: VendorFields, actor: Actor) throws -> Vendor {
        try db.transaction { tx in
            let row = try tx.query(
                """
                INSERT INTO vendors (name, legal_name, website, country, services, tier, status, owner_user_id, contacts, \
                tags, contract_start_date, contract_renewal_date, contract_notice_days, contract_auto_renew) \
                VALUES (\(f.name), \(f.legalName), \(f.website), \(f.country), \(f.services), \(f.tier.rawValue), \
                \(f.status.rawValue), \(f.ownerUserID), \(contactsJSON(f.contacts)), \(f.tags), \(f.contract.startDate), \
                \(f.contract.renewalDate), \(f.contract.noticeDays), \(f.contract.autoRenew)) \
                RETURNING \(VendorStore.columns)
                """
            ).first
            guard let row else { throw APIError.internal() }
            let vendor = try decode(row)
            try AuditLog.record(
                tx, actor, action: "vendor.created", resourceType: "vendor",
                resourceID: vendor.id.uuidString.lowercased(),
                changes: .object([("after", .object(f.auditJSON))]))
            return vendor
        }
    }

    /// Applies `change` to the current vendor under a row lock; `ifMatch` must name the current ETag if given.
    public func update(
        _ db: Connection, id: UUID, scope: VendorScope, ifMatch: String?, actor: Actor,
        change: (VendorFields) throws -> VendorFields
    ) throws -> Vendor {
        try db.transaction { tx in
            guard let current = try get(tx, id: id, scope: scope, forUpdate: true) else { throw APIError.notFound() }
            try checkPrecondition(ifMatch, current)
            if current.deletedAt != nil { throw APIError.conflict("The vendor was deleted; it can no longer change.") }
            let f = try change(current.fields)
            if f == current.fields { return current }
            let row = try tx.query(
                """
                UPDATE vendors SET name = \(f.name), legal_name = \(f.legalName), website = \(f.website), \
                country = \(f.country), services = \(f.services), tier = \(f.tier.rawValue), status = \(f.status.rawValue), \
                owner_user_id = \(f.ownerUserID), contacts = \(contactsJSON(f.contacts)), tags = \(f.tags), \
                contract_start_date = \(f.contract.startDate), contract_renewal_date = \(f.contract.renewalDate), \
                contract_notice_days = \(f.contract.noticeDays), contract_auto_renew = \(f.contract.autoRenew), \
                version = version + 1, updated_at = now() WHERE id = \(id) RETURNING \(VendorStore.columns)
                """
            ).first
            guard row != nil, let updated = try get(tx, id: id, scope: scope) else { throw APIError.notFound() }
            try AuditLog.record(
                tx, actor, action: "vendor.updated", resourceType: "vendor", resourceID: id.uuidString.lowercased(),
                changes: AuditLog.diff(before: current.fields.auditJSON, after: f.auditJSON))
            return updated
        }
    }

    /// Soft delete: the vendor is offboarded and marked deleted; its history stays.
    public func delete(_ db: Connection, id: UUID, scope: VendorScope, ifMatch: String?, actor: Actor) throws {
        try db.transaction { tx in
            guard let current = try get(tx, id: id, scope: scope, forUpdate: true) else { throw APIError.notFound() }
            try checkPrecondition(ifMatch, current)
            if current.deletedAt != nil { throw APIError.conflict("The vendor is already deleted.") }
            try tx.execute(
                """
                UPDATE vendors SET status = 'offboarded', deleted_at = now(), updated_at = now(), version = version + 1 \
                WHERE id = \(id)
                """)
            try AuditLog.record(
                tx, actor, action: "vendor.deleted", resourceType: "vendor", resourceID: id.uuidString.lowercased(),
                changes: .object([
                    (
                        "status",
                        .object([("before", .string(current.fields.status.rawValue)), ("after", .string("offboarded"))])
                    )
                ]))
        }
    }

    func checkPrecondition(_ ifMatch: String?, _ current: Vendor) throws {
        guard let ifMatch, !ETag.matches(ifMatch, current.etag) else { return }
        throw APIError.preconditionFailed("If-Match \(ifMatch) does not match the current ETag \(current.etag).")
    }

    func contactsJSON(_ contacts: [Contact]) -> JSONB { JSONB(utf8: JSON.array(contacts.map(\.json)).bytes) }

    func decode(_ row: Row) throws -> Vendor {
        let contactsDoc: JSONB = try row.decode("contacts")
        var contacts: [Contact] = []
        if case .array(let items) = (try? JSONParser.parse(contactsDoc.utf8)) ?? .null {
            for case .object(let pairs) in items {
                let get = { (k: String) -> JSON? in pairs.first { $0.0 == k }?.1 }
                guard case .string(let name)? = get("name"), case .string(let email)? = get("email") else { continue }
                var role: String?
                if case .string(let r)? = get("role") { role = r }
                var primary = false
                if case .bool(let p)? = get("primary") { primary = p }
                contacts.append(Contact(name: name, email: email, role: role, primary: primary))
            }
        }
        guard let tier = Tier(rawValue: try row.decode("tier")),
            let status = VendorStatus(rawValue: try row.decode("status"))
        else { throw PostgresError.decoding(column: "tier", message: "unknown tier or status") }
        let fields = VendorFields(
            name: try row.decode("name"), legalName: try row.decode("legal_name"), website: try row.decode("website"),
            country: try row.decode("country"), services: try row.decode("services"), tier: tier, status: status,
            ownerUserID: try row.decode("owner_user_id"), contacts: contacts, tags: try row.decode("tags"),
            contract: Contract(
                startDate: try row.decode("contract_start_date"), renewalDate: try row.decode("contract_renewal_date"),
                noticeDays: try row.decode("contract_notice_days"), autoRenew: try row.decode("contract_auto_renew")))
        var latest: LatestAssessment?
        if row.hasColumn("la_id"), let id = try row.decode("la_id", as: UUID?.self) {
            latest = LatestAssessment(
                id: id, status: try row.decode("la_status"), score: try row.decode("la_score"),
                rating: try row.decode("la_rating"), certification: try row.decode("la_certification"),
                approvedAt: try row.decode("la_approved_at"))
        }
        return Vendor(
            id: try row.decode("id"), fields: fields, version: try row.decode("version"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"),
            deletedAt: try row.decode("deleted_at"), latestAssessment: latest)
    }
}

/// An opaque keyset cursor: the last row's (created_at, id), URL-safe base64.
public struct PageCursor: Sendable {
    public let createdAt: Date
    public let id: UUID

    public var encoded: String {
        let micros = Int64((createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        return Encoding.base64URL(Array("\(micros)|\(id.uuidString.lowercased())".utf8))
    }

    public init(createdAt: Date, id: UUID) {
        self.createdAt = createdAt
        self.id = id
    }

    public init?(encoded: String) {
        guard encoded.utf8.count <= 200, let bytes = Encoding.base64URLDecode(encoded) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "|")
        // Within ±3,000 years of 1970: a forged cursor cannot reach a date PostgreSQL cannot hold.
        guard parts.count == 2, let micros = Int64(parts[0]),
            (-95_000_000_000_000_000...95_000_000_000_000_000).contains(micros),
            let id = UUID(canonical: String(parts[1]))
        else {
            return nil
        }
        self.init(createdAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000), id: id)
    }

    /// Escapes LIKE's wildcards so a search for "50%" means the text "50%".
    static func escapeLike(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "\\" || c == "%" || c == "_" { out.append("\\") }
            out.append(c)
        }
        return out
    }
}

/// How a vendor list is ordered; each order has its own keyset cursor.
public enum VendorSort: String, Sendable, CaseIterable {
    case created
    case name
    case nameDescending = "-name"
    case score
    case scoreDescending = "-score"

    var orderBy: SQL {
        switch self {
        case .created: return "created_at, id"
        case .name: return "lower(name), id"
        case .nameDescending: return "lower(name) DESC, id DESC"
        // Vendors without an approved score come last either way (-1 sorts below every score).
        case .score: return "coalesce(la_score, 101), id"
        case .scoreDescending: return "coalesce(la_score, -1) DESC, id DESC"
        }
    }

    func after(_ c: VendorCursor) -> SQL {
        switch self {
        case .created: return "(created_at, id) > (\(Date(timeIntervalSince1970: Double(c.key) ?? 0)), \(c.id))"
        // The cursor keeps the name as stored and PostgreSQL lowers both sides, so the comparison is the very
        // one ORDER BY uses (Swift's lowercased() differs from lower() for a few letters, such as İ).
        case .name: return "(lower(name), id) > (lower(\(c.key)), \(c.id))"
        case .nameDescending: return "(lower(name), id) < (lower(\(c.key)), \(c.id))"
        case .score: return "(coalesce(la_score, 101), id) > (\(Double(c.key) ?? 0), \(c.id))"
        case .scoreDescending: return "(coalesce(la_score, -1), id) < (\(Double(c.key) ?? 0), \(c.id))"
        }
    }

    func cursor(for v: Vendor) -> VendorCursor {
        let key: String
        switch self {
        case .created: key = String(v.createdAt.timeIntervalSince1970)
        case .name, .nameDescending: key = v.fields.name
        case .score: key = String(v.latestAssessment?.score ?? 101)
        case .scoreDescending: key = String(v.latestAssessment?.score ?? -1)
        }
        return VendorCursor(sort: self, key: key, id: v.id)
    }
}

/// An opaque keyset cursor for a vendor list: the order it belongs to, the last sort key and id.
public struct VendorCursor: Sendable {
    public let sort: VendorSort
    public let key: String
    public let id: UUID

    public var encoded: String { Encoding.base64URL(Array("\(sort.rawValue)\u{0}\(key)\u{0}\(id.uuidString)".utf8)) }

    public init(sort: VendorSort, key: String, id: UUID) {
        self.sort = sort
        self.key = key
        self.id = id
    }

    public init?(encoded: String, sort: VendorSort) {
        // A name of 200 four-byte characters makes a cursor of about 1,100 characters.
        guard encoded.utf8.count <= 2_000, let bytes = Encoding.base64URLDecode(encoded),
            let text = String(validating: bytes, as: UTF8.self)
        else { return nil }
        let parts = text.split(separator: "\u{0}", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == sort.rawValue, let id = UUID(canonical: String(parts[2])) else {
            return nil
        }
        if sort == .created || sort == .score || sort == .scoreDescending {
            // A number that this server could have written: finite, a plausible time or a score in range.
            guard let number = Double(parts[1]), number.isFinite else { return nil }
            if sort == .created, abs(number) >= 95_000_000_000 { return nil }
            if sort != .created, !(-1...101).contains(number) { return nil }
        }
        self.init(sort: sort, key: String(parts[1]), id: id)
    }
}
