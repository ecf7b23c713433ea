import Foundation
import HTTPServer
import Postgres

/// Frameworks' SQL: import in one transaction, read back in the importable shape.
public struct FrameworkStore: Sendable {
    public init() {}

    static let requirementColumns: SQL = """
        ref, title, description, principle, severity, weight, must_pass, evidence_required, evidence_kinds, \
        evidence_max_age_days, remediation, mappings
        """

    /// Imports a whole catalog, all or nothing. A (key, version) that exists is a 409.
    public func importCatalog(_ db: Connection, _ doc: FrameworkDocument, actor: Actor) throws -> UUID {
        try db.transaction { tx in
            guard
                let row = try tx.query(
                    """
                    INSERT INTO frameworks (key, name, version, description, created_by) \
                    VALUES (\(doc.key), \(doc.name), \(doc.version), \(doc.description), \(actor.userID)) RETURNING id
                    """
                ).first
            else { throw APIError.internal() }
            let id: UUID = try row.decode("id")
            // One statement for all requirements, in chunks to keep the parameter count bounded.
            for (chunkIndex, chunk) in stride(from: 0, to: doc.requirements.count, by: 200).enumerated() {
                let slice = doc.requirements[chunk..<min(chunk + 200, doc.requirements.count)]
                let rows: [SQL] = slice.enumerated().map { offset, r in
                    let mappings = JSONB(utf8: JSON.array(r.mappings.map(\.json)).bytes)
                    return """
                        (\(id), \(chunkIndex * 200 + offset), \(r.ref), \(r.title), \(r.description), \(r.principle.rawValue), \
                        \(r.severity.rawValue), \(r.weight), \(r.mustPass), \(r.evidence.required), \(r.evidence.kinds), \
                        \(r.evidence.maxAgeDays), \(r.remediation), \(mappings))
                        """
                }
                try tx.execute(
                    """
                    INSERT INTO requirements (framework_id, position, \(FrameworkStore.requirementColumns)) \
                    VALUES \(SQL.joined(rows, separator: ", "))
                    """)
            }
            try AuditLog.record(
                tx, actor, action: "framework.imported", resourceType: "framework",
                resourceID: id.uuidString.lowercased(),
                changes: .object([
                    ("key", .string(doc.key)), ("version", .string(doc.version)),
                    ("requirements", .int(doc.requirements.count)),
                ]))
            return id
        }
    }

    public func list(_ db: Connection, key: String?, limit: Int, after: PageCursor?) throws -> Page<FrameworkSummary> {
        var conditions: [SQL] = ["TRUE"]
        if let key { conditions.append("f.key = \(key)") }
        if let after { conditions.append("(f.created_at, f.id) > (\(after.createdAt), \(after.id))") }
        let rows = try db.query(
            """
            SELECT f.id, f.key, f.name, f.version, f.description, f.created_at, \
            (SELECT count(*) FROM requirements r WHERE r.framework_id = f.id) AS requirement_count \
            FROM frameworks f WHERE \(SQL.joined(conditions, separator: " AND ")) \
            ORDER BY f.created_at, f.id LIMIT \(limit + 1)
            """
        ).rows
        return page(try rows.map(summary), limit: limit) { PageCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    public func summary(_ db: Connection, id: UUID) throws -> FrameworkSummary? {
        try db.query(
            """
            SELECT f.id, f.key, f.name, f.version, f.description, f.created_at, \
            (SELECT count(*) FROM requirements r WHERE r.framework_id = f.id) AS requirement_count \
            FROM frameworks f WHERE f.id = \(id)
            """
        ).first.map(summary)
    }

    public func id(_ db: Connection, key: String, version: String) throws -> UUID? {
        try db.query("SELECT id FROM frameworks WHERE key = \(key) AND version = \(version)").first?.decode("id")
    }

    /// Requirements in catalog order, optionally filtered.
    public func requirements(
        _ db: Connection, frameworkID: UUID, principle: Principle? = nil, severity: Severity? = nil
    ) throws -> [Requirement] {
        var conditions: [SQL] = ["framework_id = \(frameworkID)"]
        if let principle { conditions.append("principle = \(principle.rawValue)") }
        if let severity { conditions.append("severity = \(severity.rawValue)") }
        return try db.query(
            """
            SELECT \(FrameworkStore.requirementColumns) FROM requirements \
            WHERE \(SQL.joined(conditions, separator: " AND ")) ORDER BY position
            """
        ).rows.map(requirement)
    }

    public func refs(_ db: Connection, frameworkID: UUID) throws -> Set<String> {
        Set(
            try db.query("SELECT ref FROM requirements WHERE framework_id = \(frameworkID)").rows.map {
                try $0.decode("ref")
            })
    }

    public func document(_ db: Connection, id: UUID) throws -> FrameworkDocument? {
        guard let s = try summary(db, id: id) else { return nil }
        return FrameworkDocument(
            key: s.key, name: s.name, version: s.version, description: s.description,
            requirements: try requirements(db, frameworkID: id))
    }

    func summary(_ row: Row) throws -> FrameworkSummary {
        FrameworkSummary(
            id: try row.decode("id"), key: try row.decode("key"), name: try row.decode("name"),
            version: try row.decode("version"), description: try row.decode("description"),
            requirementCount: try row.decode("requirement_count"), createdAt: try row.decode("created_at"))
    }

    func requirement(_ row: Row) throws -> Requirement {
        guard let principle = Principle(rawValue: try row.decode("principle")),
            let severity = Severity(rawValue: try row.decode("severity"))
        else { throw PostgresError.decoding(column: "principle", message: "unknown principle or severity") }
        var mappings: [Mapping] = []
        if case .array(let items) = try JSONParser.parse(try row.decode("mappings", as: JSONB.self).utf8) {
            for case .object(let m) in items {
                if case .string(let f)? = m.first(where: { $0.0 == "framework" })?.1,
                    case .string(let r)? = m.first(where: { $0.0 == "ref" })?.1
                {
                    mappings.append(Mapping(framework: f, ref: r))
                }
            }
        }
        return Requirement(
            ref: try row.decode("ref"), title: try row.decode("title"), description: try row.decode("description"),
            principle: principle, severity: severity, weight: try row.decode("weight"),
            mustPass: try row.decode("must_pass"),
            evidence: EvidenceDemand(
                required: try row.decode("evidence_required"), kinds: try row.decode("evidence_kinds"),
                maxAgeDays: try row.decode("evidence_max_age_days")), remediation: try row.decode("remediation"),
            mappings: mappings)
    }
}
