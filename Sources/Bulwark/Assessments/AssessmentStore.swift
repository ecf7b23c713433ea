import Foundation
import HTTPServer
import Postgres
import Scoring

public struct AssessmentFilter: Sendable {
    public var vendorID: UUID?
    public var status: AssessmentStatus?
    public var dueBefore: CalendarDate?
}

/// Assessments' SQL. Every read takes the caller's scope; row-level security enforces it again.
public struct AssessmentStore: Sendable {
    public init() {}

    static let columns: SQL = """
        a.id, a.vendor_id, a.questionnaire_id, a.status, a.due_date, a.review_comment, a.question_comments, a.created_at, \
        a.updated_at, a.submitted_at, a.returned_at, a.approved_at, a.cancelled_at, a.approved_score, a.approved_rating, \
        a.approved_certification, a.version
        """

    static func scoped(_ scope: VendorScope) -> SQL {
        switch scope {
        case .all: return "TRUE"
        case .vendor(let id): return "a.vendor_id = \(id)"
        }
    }

    public func get(_ db: Connection, id: UUID, scope: VendorScope, forUpdate: Bool = false) throws -> Assessment? {
        let lock: SQL = forUpdate ? " FOR UPDATE" : ""
        return try db.query(
            "SELECT \(AssessmentStore.columns) FROM assessments a WHERE a.id = \(id) AND \(AssessmentStore.scoped(scope))\(lock)"
        ).first.map(decode)
    }

    public func list(_ db: Connection, scope: VendorScope, filter: AssessmentFilter, limit: Int, after: PageCursor?)
        throws -> Page<Assessment>
    {
        var conditions: [SQL] = [AssessmentStore.scoped(scope)]
        if let v = filter.vendorID { conditions.append("a.vendor_id = \(v)") }
        if let s = filter.status { conditions.append("a.status = \(s.rawValue)") }
        if let d = filter.dueBefore { conditions.append("a.due_date < \(d)") }
        if let after { conditions.append("(a.created_at, a.id) > (\(after.createdAt), \(after.id))") }
        let rows = try db.query(
            """
            SELECT \(AssessmentStore.columns) FROM assessments a WHERE \(SQL.joined(conditions, separator: " AND ")) \
            ORDER BY a.created_at, a.id LIMIT \(limit + 1)
            """
        ).rows
        return page(try rows.map(decode), limit: limit) { PageCursor(createdAt: $0.createdAt, id: $0.id) }
    }

    public func create(
        _ db: Connection, vendorID: UUID, questionnaireID: UUID, dueDate: CalendarDate, actor: Actor
    ) throws -> Assessment {
        try db.transaction { tx in
            var errors: [FieldError] = []
            let vendorOK =
                try tx.query("SELECT deleted_at IS NULL AS live FROM vendors WHERE id = \(vendorID)").first?.decode(
                    "live", as: Bool.self)
            if vendorOK != true { errors.append(FieldError("vendor_id", "is not a current vendor")) }
            let status: String? = try tx.query("SELECT status FROM questionnaires WHERE id = \(questionnaireID)").first?
                .decode("status")
            if status == nil { errors.append(FieldError("questionnaire_id", "is not a known questionnaire")) }
            if status == "draft" {
                errors.append(FieldError("questionnaire_id", "is a draft: send a published version"))
            }
            if !errors.isEmpty { throw APIError.validation(errors) }
            let row = try tx.query(
                """
                INSERT INTO assessments AS a (vendor_id, questionnaire_id, due_date, created_by) \
                VALUES (\(vendorID), \(questionnaireID), \(dueDate), \(actor.userID)) RETURNING \(AssessmentStore.columns)
                """
            ).first
            guard let row else { throw APIError.internal() }
            let a = try decode(row)
            try AuditLog.record(
                tx, actor, action: "assessment.created", resourceType: "assessment",
                resourceID: a.id.uuidString.lowercased(),
                changes: .object([
                    ("vendor_id", .uuid(vendorID)), ("questionnaire_id", .uuid(questionnaireID)),
                    ("due_date", .string(dueDate.description)),
                ]))
            return a
        }
    }

    public func answers(_ db: Connection, assessmentID: UUID) throws -> [Answer] {
        try db.query(
            """
            SELECT question_key, value, comment, evidence_ids, answered_by, on_behalf, answered_at, revision \
            FROM answers WHERE assessment_id = \(assessmentID) ORDER BY question_key
            """
        ).rows.map(decodeAnswer)
    }

    public func history(_ db: Connection, assessmentID: UUID) throws -> [String: [Answer]] {
        var out: [String: [Answer]] = [:]
        for row in try db.query(
            """
            SELECT question_key, value, comment, evidence_ids, answered_by, on_behalf, answered_at, revision \
            FROM answer_history WHERE assessment_id = \(assessmentID) ORDER BY id
            """
        ).rows {
            let a = try decodeAnswer(row)
            out[a.questionKey, default: []].append(a)
        }
        return out
    }

    /// Writes answers, all or nothing, keeping each replaced answer in the history. Evidence ids must be
    /// the vendor's own evidence.
    /// Saves answers (all or none) and returns them with the assessment's new ETag. `ifMatch` is checked
    /// against the assessment's ETag, which every change of its answers moves on.
    public func saveAnswers(
        _ db: Connection, assessment: Assessment, inputs: [(String, AnswerInput)], principal: Principal, actor: Actor,
        ifMatch: String? = nil
    ) throws -> (answers: [Answer], etag: String) {
        try db.transaction { tx in
            guard let locked = try get(tx, id: assessment.id, scope: .vendor(assessment.vendorID), forUpdate: true)
            else {
                throw APIError.notFound()
            }
            if let ifMatch, !ETag.matches(ifMatch, locked.etag) {
                throw APIError.preconditionFailed(
                    "If-Match \(ifMatch) does not match the assessment's current ETag \(locked.etag).")
            }
            guard locked.status.acceptsAnswers else {
                throw APIError.conflict(
                    "The assessment is \(locked.status.rawValue); answers change only while it is in_progress or returned."
                )
            }
            let wanted = Set(inputs.flatMap { $0.1.evidenceIDs })
            if !wanted.isEmpty {
                let found = Set(
                    try tx.query(
                        "SELECT id FROM evidence WHERE vendor_id = \(assessment.vendorID) AND id = ANY(\(UUIDArray(Array(wanted))))"
                    ).rows.map { try $0.decode("id", as: UUID.self) })
                let missing = inputs.filter { !Set($0.1.evidenceIDs).isSubset(of: found) }.map { $0.0 }
                if !missing.isEmpty {
                    throw APIError.validation(
                        missing.map {
                            FieldError("answers.\($0).evidence_ids", "names evidence this vendor does not have")
                        })
                }
            }
            let onBehalf = principal.role != .vendor
            var saved: [Answer] = []
            for (key, input) in inputs {
                try tx.execute(
                    """
                    INSERT INTO answer_history (assessment_id, vendor_id, question_key, value, comment, evidence_ids, \
                    answered_by, on_behalf, answered_at, revision) \
                    SELECT assessment_id, vendor_id, question_key, value, comment, evidence_ids, answered_by, on_behalf, \
                    answered_at, revision FROM answers WHERE assessment_id = \(assessment.id) AND question_key = \(key)
                    """)
                let value = JSONB(utf8: input.value.bytes)
                let ids = UUIDArray(input.evidenceIDs)
                let row = try tx.query(
                    """
                    INSERT INTO answers (assessment_id, vendor_id, question_key, value, comment, evidence_ids, answered_by, on_behalf) \
                    VALUES (\(assessment.id), \(assessment.vendorID), \(key), \(value), \(input.comment), \(ids), \
                    \(principal.userID), \(onBehalf)) \
                    ON CONFLICT (assessment_id, question_key) DO UPDATE SET value = EXCLUDED.value, comment = EXCLUDED.comment, \
                    evidence_ids = EXCLUDED.evidence_ids, answered_by = EXCLUDED.answered_by, on_behalf = EXCLUDED.on_behalf, \
                    answered_at = now(), revision = answers.revision + 1 \
                    RETURNING question_key, value, comment, evidence_ids, answered_by, on_behalf, answered_at, revision
                    """
                ).first
                guard let row else { throw APIError.internal() }
                saved.append(try decodeAnswer(row))
            }
            let version: Int =
                try tx.query(
                    "UPDATE assessments SET updated_at = now(), version = version + 1 WHERE id = \(assessment.id) RETURNING version"
                ).first?.decode("version") ?? locked.version + 1
            try AuditLog.record(
                tx, actor, action: "assessment.answered", resourceType: "assessment",
                resourceID: assessment.id.uuidString.lowercased(),
                changes: .object([
                    ("questions", .array(inputs.map { .string($0.0) })), ("on_behalf", .bool(onBehalf)),
                ]))
            return (saved, Assessment.etag(version: version))
        }
    }

    /// Moves the assessment along; `check` may refuse (e.g. missing answers) after the row is locked.
    public func transition(
        _ db: Connection, id: UUID, scope: VendorScope, _ move: AssessmentTransition, actor: Actor,
        comment: String? = nil, questionComments: JSON? = nil, snapshot: ((Assessment) throws -> ScoreCard)? = nil,
        check: (Assessment) throws -> Void = { _ in }
    ) throws -> Assessment {
        try db.transaction { tx in
            guard let current = try get(tx, id: id, scope: scope, forUpdate: true) else { throw APIError.notFound() }
            try move.check(current.status)
            try check(current)
            var extra: SQL = ""
            if move == .approve || move == .return {
                extra +=
                    ", review_comment = \(comment), question_comments = \(JSONB(utf8: (questionComments ?? .object([])).bytes))"
            }
            if let snapshot {
                let card = try snapshot(current)
                extra +=
                    ", approved_score = \(card.overall), approved_rating = \(card.rating.rawValue), approved_certification = \(card.certification.rawValue)"
            }
            let row = try tx.query(
                """
                UPDATE assessments AS a SET status = \(move.to.rawValue), \(move.timestampColumn) = now(), updated_at = now(), \
                version = version + 1\(extra) WHERE a.id = \(id) RETURNING \(AssessmentStore.columns)
                """
            ).first
            guard let row else { throw APIError.notFound() }
            let updated = try decode(row)
            var changes: [(String, JSON)] = [
                (
                    "status",
                    .object([("before", .string(current.status.rawValue)), ("after", .string(move.to.rawValue))])
                )
            ]
            if let comment { changes.append(("comment", .string(comment))) }
            if let s = updated.approvedScore { changes.append(("score", .number(s))) }
            try AuditLog.record(
                tx, actor, action: "assessment.\(move == .return ? "returned" : move.to.rawValue)",
                resourceType: "assessment", resourceID: id.uuidString.lowercased(), changes: .object(changes))
            return updated
        }
    }

    func decode(_ row: Row) throws -> Assessment {
        guard let status = AssessmentStatus(rawValue: try row.decode("status")) else {
            throw PostgresError.decoding(column: "status", message: "unknown assessment status")
        }
        var comments: [(String, JSON)] = []
        if case .object(let pairs) = try JSONParser.parse(try row.decode("question_comments", as: JSONB.self).utf8) {
            comments = pairs.sorted { $0.0 < $1.0 }
        }
        return Assessment(
            id: try row.decode("id"), vendorID: try row.decode("vendor_id"),
            questionnaireID: try row.decode("questionnaire_id"),
            status: status, dueDate: try row.decode("due_date"), reviewComment: try row.decode("review_comment"),
            questionComments: comments, createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"),
            submittedAt: try row.decode("submitted_at"), returnedAt: try row.decode("returned_at"),
            approvedAt: try row.decode("approved_at"), cancelledAt: try row.decode("cancelled_at"),
            approvedScore: try row.decode("approved_score"), approvedRating: try row.decode("approved_rating"),
            approvedCertification: try row.decode("approved_certification"), version: try row.decode("version"))
    }

    func decodeAnswer(_ row: Row) throws -> Answer {
        let value = try row.decode("value", as: JSONB?.self)
        return Answer(
            questionKey: try row.decode("question_key"),
            value: try value.map { try JSONParser.parse($0.utf8) } ?? .null,
            comment: try row.decode("comment"), evidenceIDs: try row.decode("evidence_ids"),
            answeredBy: try row.decode("answered_by"), onBehalf: try row.decode("on_behalf"),
            answeredAt: try row.decode("answered_at"), revision: try row.decode("revision"))
    }
}
