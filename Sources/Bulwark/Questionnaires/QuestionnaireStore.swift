import Foundation
import HTTPServer
import Postgres

/// Questionnaires' SQL. Drafts change; a published version never does (the database refuses it too).
public struct QuestionnaireStore: Sendable {
    public init() {}

    static let columns: SQL = """
        id, family_id, version, status, name, description, framework_id, sections, revision, created_at, updated_at, \
        published_at
        """

    public func get(_ db: Connection, id: UUID, forUpdate: Bool = false) throws -> Questionnaire? {
        let lock: SQL = forUpdate ? " FOR UPDATE" : ""
        return try db.query("SELECT \(QuestionnaireStore.columns) FROM questionnaires WHERE id = \(id)\(lock)").first
            .map(
                decode)
    }

    public func list(
        _ db: Connection, status: QuestionnaireStatus?, frameworkID: UUID?, familyID: UUID?, limit: Int,
        after: PageCursor?
    ) throws -> Page<Questionnaire> {
        var conditions: [SQL] = ["TRUE"]
        if let status { conditions.append("status = \(status.rawValue)") }
        if let frameworkID { conditions.append("framework_id = \(frameworkID)") }
        if let familyID { conditions.append("family_id = \(familyID)") }
        if let after { conditions.append("(created_at, id) > (\(after.createdAt), \(after.id))") }
        let rows = try db.query(
            """
            SELECT \(QuestionnaireStore.columns) FROM questionnaires WHERE \(SQL.joined(conditions, separator: " AND ")) \
            ORDER BY created_at, id LIMIT \(limit + 1)
            """
        ).rows
        return page(try rows.map(decode), limit: limit) { PageCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    /// A new draft: version 1 of a new family, or the next version of an existing one.
    public func createDraft(
        _ db: Connection, _ content: QuestionnaireContent, familyID: UUID? = nil, actor: Actor
    ) throws -> Questionnaire {
        try db.transaction { tx in
            let family = familyID ?? UUID()
            let version: Int =
                try tx.query(
                    "SELECT coalesce(max(version), 0)::int8 + 1 AS v FROM questionnaires WHERE family_id = \(family)"
                ).first?.decode("v") ?? 1
            let row = try tx.query(
                """
                INSERT INTO questionnaires (family_id, version, status, name, description, framework_id, sections, \
                question_count, created_by) VALUES (\(family), \(version), 'draft', \(content.name), \(content.description), \
                \(content.frameworkID), \(sectionsText(content))::json, \(content.questions.count), \(actor.userID)) \
                RETURNING \(QuestionnaireStore.columns)
                """
            ).first
            guard let row else { throw APIError.internal() }
            let q = try decode(row)
            try AuditLog.record(
                tx, actor, action: "questionnaire.created", resourceType: "questionnaire",
                resourceID: q.id.uuidString.lowercased(),
                changes: .object([
                    ("family_id", .uuid(family)), ("version", .int(version)), ("name", .string(content.name)),
                    ("questions", .int(content.questions.count)),
                ]))
            return q
        }
    }

    public func updateDraft(
        _ db: Connection, id: UUID, ifMatch: String?, actor: Actor,
        change: (QuestionnaireContent) throws -> QuestionnaireContent
    ) throws -> Questionnaire {
        try db.transaction { tx in
            guard let current = try get(tx, id: id, forUpdate: true) else { throw APIError.notFound() }
            if let ifMatch, !ETag.matches(ifMatch, current.etag) {
                throw APIError.preconditionFailed(
                    "If-Match \(ifMatch) does not match the current ETag \(current.etag).")
            }
            guard current.status == .draft else {
                throw APIError.conflict(
                    "Version \(current.version) is published and cannot change; create a new version from it.")
            }
            let c = try change(current.content)
            if c == current.content { return current }
            let row = try tx.query(
                """
                UPDATE questionnaires SET name = \(c.name), description = \(c.description), framework_id = \(c.frameworkID), \
                sections = \(sectionsText(c))::json, question_count = \(c.questions.count), revision = revision + 1, \
                updated_at = now() WHERE id = \(id) RETURNING \(QuestionnaireStore.columns)
                """
            ).first
            guard let row else { throw APIError.notFound() }
            try AuditLog.record(
                tx, actor, action: "questionnaire.updated", resourceType: "questionnaire",
                resourceID: id.uuidString.lowercased(),
                changes: .object([
                    ("name", .string(c.name)), ("questions", .int(c.questions.count)),
                    ("revision", .int(current.revision + 1)),
                ]))
            return try decode(row)
        }
    }

    public func publish(_ db: Connection, id: UUID, actor: Actor) throws -> Questionnaire {
        try db.transaction { tx in
            guard let current = try get(tx, id: id, forUpdate: true) else { throw APIError.notFound() }
            guard current.status == .draft else {
                throw APIError.conflict("Version \(current.version) is already published.")
            }
            let row = try tx.query(
                """
                UPDATE questionnaires SET status = 'published', published_at = now(), updated_at = now() \
                WHERE id = \(id) RETURNING \(QuestionnaireStore.columns)
                """
            ).first
            guard let row else { throw APIError.notFound() }
            try AuditLog.record(
                tx, actor, action: "questionnaire.published", resourceType: "questionnaire",
                resourceID: id.uuidString.lowercased(),
                changes: .object([("version", .int(current.version)), ("status", .string("published"))]))
            return try decode(row)
        }
    }

    func sectionsText(_ c: QuestionnaireContent) -> String {
        String(decoding: c.sectionsJSON(forVendor: false).bytes, as: UTF8.self)
    }

    func decode(_ row: Row) throws -> Questionnaire {
        let sectionsDoc: String = try row.decode("sections")
        guard let status = QuestionnaireStatus(rawValue: try row.decode("status")) else {
            throw PostgresError.decoding(column: "status", message: "unknown status")
        }
        return Questionnaire(
            id: try row.decode("id"), familyID: try row.decode("family_id"), version: try row.decode("version"),
            status: status,
            content: QuestionnaireContent(
                name: try row.decode("name"), description: try row.decode("description"),
                frameworkID: try row.decode("framework_id"),
                sections: try QuestionnaireInput.stored(try JSONParser.parse(Array(sectionsDoc.utf8)))),
            revision: try row.decode("revision"), createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"), publishedAt: try row.decode("published_at"))
    }
}

/// `If-Match` comparison shared by the stores: a list of tags or `*`, compared strongly (RFC 9110 13.1.1):
/// a weak tag never matches, since ours promise the exact bytes of the resource.
public enum ETag {
    public static func matches(_ header: String, _ current: String) -> Bool {
        let tags = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return tags.contains("*") || tags.contains(current)
    }
}
