import Foundation
import HTTPServer
import Postgres
import Scoring

public enum AssessmentStatus: String, Sendable, CaseIterable {
    case inProgress = "in_progress"
    case submitted, returned, approved, cancelled

    /// Answers may change only while the vendor holds the assessment.
    var acceptsAnswers: Bool { self == .inProgress || self == .returned }
}

/// The moves between statuses, each allowed from a fixed set.
public enum AssessmentTransition: String, Sendable {
    case submit, approve, `return`, cancel

    var from: Set<AssessmentStatus> {
        switch self {
        case .submit: return [.inProgress, .returned]
        case .approve, .return: return [.submitted]
        case .cancel: return [.inProgress, .submitted, .returned]
        }
    }

    var to: AssessmentStatus {
        switch self {
        case .submit: return .submitted
        case .approve: return .approved
        case .return: return .returned
        case .cancel: return .cancelled
        }
    }

    /// The column that records when this move happened.
    var timestampColumn: SQL {
        switch self {
        case .submit: return "submitted_at"
        case .approve: return "approved_at"
        case .return: return "returned_at"
        case .cancel: return "cancelled_at"
        }
    }

    func check(_ current: AssessmentStatus) throws {
        guard from.contains(current) else {
            let allowed = AssessmentStatus.allCases.filter { from.contains($0) }.map(\.rawValue).joined(
                separator: " or ")
            throw APIError.conflict("The assessment is \(current.rawValue); \(rawValue) needs it to be \(allowed).")
        }
    }
}

public struct Assessment: Sendable {
    public var id: UUID
    public var vendorID: UUID
    public var questionnaireID: UUID
    public var status: AssessmentStatus
    public var dueDate: CalendarDate
    public var reviewComment: String?
    public var questionComments: [(String, JSON)]
    public var createdAt: Date
    public var updatedAt: Date
    public var submittedAt: Date?
    public var returnedAt: Date?
    public var approvedAt: Date?
    public var cancelledAt: Date?
    public var approvedScore: Double?
    public var approvedRating: String?
    public var approvedCertification: String?
    public var version: Int

    public var etag: String { Assessment.etag(version: version) }
    static func etag(version: Int) -> String { "\"v\(version)\"" }

    func json(progress: JSON? = nil) -> JSON {
        var pairs: [(String, JSON)] = [
            ("id", .uuid(id)), ("vendor_id", .uuid(vendorID)), ("questionnaire_id", .uuid(questionnaireID)),
            ("status", .string(status.rawValue)), ("due_date", .string(dueDate.description)),
            ("review_comment", .string(reviewComment)), ("question_comments", .object(questionComments)),
            ("created_at", .time(createdAt)), ("updated_at", .time(updatedAt)), ("submitted_at", .time(submittedAt)),
            ("returned_at", .time(returnedAt)), ("approved_at", .time(approvedAt)),
            ("cancelled_at", .time(cancelledAt)),
        ]
        if let progress { pairs.append(("progress", progress)) }
        return .object(pairs)
    }
}

public struct Answer: Sendable {
    public var questionKey: String
    public var value: JSON
    public var comment: String?
    public var evidenceIDs: [UUID]
    public var answeredBy: UUID?
    public var onBehalf: Bool
    public var answeredAt: Date
    public var revision: Int

    var json: JSON {
        .object([
            ("question_key", .string(questionKey)), ("value", value), ("comment", .string(comment)),
            ("evidence_ids", .array(evidenceIDs.map { .uuid($0) })), ("answered_by", .uuid(answeredBy)),
            ("on_behalf", .bool(onBehalf)), ("answered_at", .time(answeredAt)), ("revision", .int(revision)),
        ])
    }
}

/// An answer as submitted, validated against its question.
public struct AnswerInput: Sendable {
    public var value: JSON
    public var comment: String?
    public var evidenceIDs: [UUID]
}

enum AnswerRules {
    /// Reads `{value, comment, evidence_ids}` for `question`; problems are reported under `path`.
    static func read(_ json: JSON, question: Question, path: String, into errors: inout [FieldError]) -> AnswerInput? {
        guard case .object(let pairs) = json else {
            errors.append(FieldError(path, "must be an object with value, comment and evidence_ids"))
            return nil
        }
        let r = FieldReader(pairs, path: path)
        r.rejectUnknown(["value", "comment", "evidence_ids"])
        let comment = r.string("comment", nullable: true, length: 0...5000, multiline: true).value
        var ids: [UUID] = []
        var seen = Set<UUID>()
        if let list = r.array(
            "evidence_ids", maxItems: 50,
            item: { json, p, reader -> UUID? in
                guard case .string(let s) = json, let u = UUID(canonical: s) else {
                    reader.absorb([FieldError(p, "must be an evidence id (a UUID)")])
                    return nil
                }
                return u
            }
        ).value {
            ids = list.filter { seen.insert($0).inserted }
        }
        let value = r.raw("value") ?? .null
        if let problem = check(value, evidenceIDs: ids, question: question) { r.fail("value", problem) }
        errors.append(contentsOf: r.errors)
        return r.errors.isEmpty ? AnswerInput(value: value, comment: comment, evidenceIDs: ids) : nil
    }

    /// Why `value` is not an answer to `question`, or nil when it is.
    static func check(_ value: JSON, evidenceIDs: [UUID], question q: Question) -> String? {
        if case .string("na") = value, q.type != .text {
            return q.allowNA ? nil : "N/A is not allowed for question \(q.key)"
        }
        switch q.type {
        case .evidence:
            if value != .null { return "question \(q.key) is answered by evidence_ids, not a value" }
            return evidenceIDs.isEmpty ? "question \(q.key) needs at least one evidence id" : nil
        case .yesNo:
            if case .string(let s) = value, s == "yes" || s == "no" { return nil }
            return "question \(q.key) takes \"yes\" or \"no\"" + (q.allowNA ? " or \"na\"" : "")
        case .singleChoice:
            if case .string(let s) = value, q.options.contains(where: { $0.value == s }) { return nil }
            return "question \(q.key) takes one of: \(q.options.map(\.value).joined(separator: ", "))"
        case .multiChoice:
            guard case .array(let items) = value, !items.isEmpty else {
                return "question \(q.key) takes a non-empty list of: \(q.options.map(\.value).joined(separator: ", "))"
            }
            var chosen = Set<String>()
            for item in items {
                guard case .string(let s) = item, q.options.contains(where: { $0.value == s }) else {
                    return "question \(q.key) takes only: \(q.options.map(\.value).joined(separator: ", "))"
                }
                if !chosen.insert(s).inserted { return "question \(q.key) lists \(s) twice" }
            }
            return nil
        case .number:
            guard case .number(let x) = value else { return "question \(q.key) takes a number" }
            if let lo = q.range?.min, x < lo {
                return "question \(q.key) takes a number from \(lo)" + (q.range?.max.map { " to \($0)" } ?? "")
            }
            if let hi = q.range?.max, x > hi { return "question \(q.key) takes a number up to \(hi)" }
            return nil
        case .text:
            guard case .string(let s) = value, !s.isEmpty, s.count <= 10_000 else {
                return "question \(q.key) takes text of 1 to 10000 characters"
            }
            guard Validate.hasOnlyTextCharacters(s, multiline: true) else {
                return "question \(q.key) takes text without control characters (line breaks and tabs are fine)"
            }
            return nil
        case .date:
            guard case .string(let s) = value, CalendarDate(s) != nil else {
                return "question \(q.key) takes a date written YYYY-MM-DD"
            }
            return nil
        }
    }

    /// The stored value as the scorer sees it.
    static func scoringValue(_ answer: Answer, _ q: Question) -> AnswerValue? {
        if case .string("na") = answer.value, q.type != .text { return .notApplicable }
        switch (q.type, answer.value) {
        case (.yesNo, .string("yes")): return .yes
        case (.yesNo, .string("no")): return .no
        case (.singleChoice, .string(let s)): return .choice(s)
        case (.multiChoice, .array(let items)):
            return .choices(items.compactMap { if case .string(let s) = $0 { return s } else { return nil } })
        case (.number, .number(let x)): return .number(x)
        case (.text, .string(let s)): return .text(s)
        case (.date, .string(let s)): return .text(s)
        case (.evidence, _): return answer.evidenceIDs.isEmpty ? nil : .evidence
        default: return nil
        }
    }

    /// A show_if value from the questionnaire, as the scorer compares it.
    static func conditionValue(_ json: JSON, target: Question?) -> AnswerValue {
        switch json {
        case .string("yes") where target?.type == .yesNo: return .yes
        case .string("no") where target?.type == .yesNo: return .no
        case .string("na"): return .notApplicable
        case .string(let s): return target?.type == .text || target?.type == .date ? .text(s) : .choice(s)
        case .number(let x): return .number(x)
        case .bool(let b): return b ? .yes : .no
        default: return .text("")
        }
    }

    static func scoringQuestion(_ q: Question, all: [String: Question]) -> ScoringQuestion {
        let kind = QuestionKind(rawValue: q.type.rawValue) ?? .text
        var showIf: (question: String, condition: Condition)?
        if let s = q.showIf {
            let target = all[s.question]
            switch s {
            case .equals(let question, let v): showIf = (question, .equals(conditionValue(v, target: target)))
            case .isIn(let question, let vs): showIf = (question, .isIn(vs.map { conditionValue($0, target: target) }))
            case .answered(let question, let a): showIf = (question, .answered(a))
            }
        }
        return ScoringQuestion(
            key: q.key, kind: kind,
            optionScores: Dictionary(q.options.map { ($0.value, $0.score) }, uniquingKeysWith: { a, _ in a }),
            thresholds: (q.scoring?.thresholds ?? []).map { ($0.comparison == .lte ? .lte : .gte, $0.bound, $0.score) },
            otherwise: q.scoring?.otherwise ?? 0, requirements: q.requirements.map { ($0.ref, $0.weight) },
            showIf: showIf)
    }
}
