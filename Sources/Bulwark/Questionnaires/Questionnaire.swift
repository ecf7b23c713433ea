import Foundation
import HTTPServer
import Postgres

public enum QuestionType: String, Sendable, CaseIterable {
    case yesNo = "yes_no"
    case singleChoice = "single_choice"
    case multiChoice = "multi_choice"
    case number, text, date, evidence

    var hasOptions: Bool { self == .singleChoice || self == .multiChoice }
}

public struct Option: Sendable, Equatable {
    public var value: String
    public var label: String
    public var score: Double
}

public struct Threshold: Sendable, Equatable {
    public enum Comparison: String, Sendable { case lte, gte }
    public var comparison: Comparison
    public var bound: Double
    public var score: Double
}

public struct NumberScoring: Sendable, Equatable {
    public var thresholds: [Threshold]
    public var otherwise: Double
}

public struct NumberRange: Sendable, Equatable {
    public var min: Double?
    public var max: Double?
}

public struct RequirementLink: Sendable, Equatable {
    public var ref: String
    public var weight: Double
}

public enum ShowIf: Sendable, Equatable {
    case equals(question: String, value: JSON)
    case isIn(question: String, values: [JSON])
    case answered(question: String, Bool)

    public var question: String {
        switch self {
        case .equals(let q, _), .isIn(let q, _), .answered(let q, _): return q
        }
    }

    var json: JSON {
        switch self {
        case .equals(let q, let v): return .object([("question", .string(q)), ("equals", v)])
        case .isIn(let q, let vs): return .object([("question", .string(q)), ("in", .array(vs))])
        case .answered(let q, let a): return .object([("question", .string(q)), ("answered", .bool(a))])
        }
    }
}

public struct Question: Sendable, Equatable {
    public var key: String
    public var text: String
    public var help: String
    public var type: QuestionType
    public var required: Bool
    public var allowNA: Bool
    public var options: [Option]
    public var scoring: NumberScoring?
    public var range: NumberRange?
    public var requirements: [RequirementLink]
    public var showIf: ShowIf?
    public var evidenceKinds: [String]

    /// The whole question; `forVendor` leaves out how it is scored (option scores, thresholds, mappings).
    func json(forVendor: Bool) -> JSON {
        var pairs: [(String, JSON)] = [
            ("key", .string(key)), ("text", .string(text)), ("help", .string(help)), ("type", .string(type.rawValue)),
            ("required", .bool(required)), ("allow_na", .bool(allowNA)),
            (
                "options",
                .array(
                    options.map { o in
                        .object(
                            [("value", .string(o.value)), ("label", .string(o.label))]
                                + (forVendor ? [] : [("score", .number(o.score))]))
                    })
            ),
        ]
        if !forVendor {
            pairs.append(
                (
                    "scoring",
                    scoring.map { s in
                        .object([
                            (
                                "thresholds",
                                .array(
                                    s.thresholds.map {
                                        .object([
                                            ($0.comparison.rawValue, .number($0.bound)), ("score", .number($0.score)),
                                        ])
                                    })
                            ), ("otherwise", .number(s.otherwise)),
                        ])
                    } ?? .null
                ))
        }
        pairs.append(
            (
                "range",
                range.map {
                    .object([
                        ("min", $0.min.map { .number($0) } ?? .null), ("max", $0.max.map { .number($0) } ?? .null),
                    ])
                }
                    ?? .null
            ))
        if !forVendor {
            pairs.append(
                (
                    "requirements",
                    .array(requirements.map { .object([("ref", .string($0.ref)), ("weight", .number($0.weight))]) })
                ))
        }
        pairs.append(("show_if", showIf?.json ?? .null))
        if type == .evidence { pairs.append(("evidence_kinds", .array(evidenceKinds.map { .string($0) }))) }
        return .object(pairs)
    }
}

public struct Section: Sendable, Equatable {
    public var key: String
    public var title: String
    public var questions: [Question]
}

/// The content of one questionnaire version: what a draft edits and a published version freezes.
public struct QuestionnaireContent: Sendable, Equatable {
    public var name: String
    public var description: String
    public var frameworkID: UUID
    public var sections: [Section]

    public var questions: [Question] { sections.flatMap(\.questions) }

    func sectionsJSON(forVendor: Bool) -> JSON {
        .array(
            sections.map { s in
                .object([
                    ("key", .string(s.key)), ("title", .string(s.title)),
                    ("questions", .array(s.questions.map { $0.json(forVendor: forVendor) })),
                ])
            })
    }
}

public enum QuestionnaireStatus: String, Sendable, CaseIterable {
    case draft, published
}

public struct Questionnaire: Sendable {
    public var id: UUID
    public var familyID: UUID
    public var version: Int
    public var status: QuestionnaireStatus
    public var content: QuestionnaireContent
    public var revision: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var publishedAt: Date?

    public var etag: String { "\"r\(revision)\"" }

    func json(forVendor: Bool, includeSections: Bool = true) -> JSON {
        var pairs: [(String, JSON)] = [
            ("id", .uuid(id)), ("family_id", .uuid(familyID)), ("version", .int(version)),
            ("status", .string(status.rawValue)), ("name", .string(content.name)),
            ("description", .string(content.description)), ("framework_id", .uuid(content.frameworkID)),
            ("question_count", .int(content.questions.count)),
        ]
        if includeSections { pairs.append(("sections", content.sectionsJSON(forVendor: forVendor))) }
        pairs += [
            ("created_at", .time(createdAt)), ("updated_at", .time(updatedAt)), ("published_at", .time(publishedAt)),
        ]
        return .object(pairs)
    }
}
