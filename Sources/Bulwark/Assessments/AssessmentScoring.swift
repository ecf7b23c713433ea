import Foundation
import HTTPServer
import Postgres
import Scoring

private let publishedQuestionnaires = ImmutableCache<UUID, Questionnaire>(capacity: 256)
private let catalogRequirements = ImmutableCache<UUID, [Requirement]>(capacity: 64)

/// Everything scoring needs for one assessment, read in a fixed number of queries (at most five, whatever
/// the number of questions): the assessment with its vendor's tier, the questionnaire, the framework's
/// requirements, the answers and the vendor's evidence. The questionnaire and the requirements never
/// change, so after the first read they come from memory.
struct AssessmentScoringData {
    var assessment: Assessment
    var tier: VendorTier
    var questionnaire: Questionnaire
    var requirements: [Requirement]
    var answers: [Answer]
    var evidence: [ScoringEvidence]

    static func load(_ db: Connection, id: UUID, scope: VendorScope) throws -> AssessmentScoringData {
        let store = AssessmentStore()
        guard
            let row = try db.query(
                """
                SELECT \(AssessmentStore.columns), v.tier FROM assessments a JOIN vendors v ON v.id = a.vendor_id \
                WHERE a.id = \(id) AND \(AssessmentStore.scoped(scope))
                """
            ).first
        else { throw APIError.notFound() }
        let assessment = try store.decode(row)
        let tier = VendorTier(rawValue: try row.decode("tier")) ?? .medium
        // Assessments only ever point at published versions, and catalogs are never edited: both are
        // immutable, so they are read from the database once per process.
        guard
            let questionnaire = try publishedQuestionnaires.value(
                assessment.questionnaireID,
                load: {
                    try QuestionnaireStore().get(db, id: assessment.questionnaireID).flatMap {
                        $0.status == .published ? $0 : nil
                    }
                })
        else { throw APIError.internal() }
        let frameworkID = questionnaire.content.frameworkID
        let requirements =
            try catalogRequirements.value(
                frameworkID, load: { try FrameworkStore().requirements(db, frameworkID: frameworkID) })
            ?? []
        let answers = try store.answers(db, assessmentID: id)
        let evidence = try db.query(
            "SELECT status, issued_on, expires_on, requirement_refs FROM evidence WHERE vendor_id = \(assessment.vendorID)"
        ).rows.map { row -> ScoringEvidence in
            ScoringEvidence(
                requirementRefs: Set(try row.decode("requirement_refs", as: [String].self)),
                status: ScoringEvidence.Status(rawValue: try row.decode("status")) ?? .pending,
                issuedOn: try row.decode("issued_on", as: CalendarDate?.self)?.daysSinceEpoch,
                expiresOn: try row.decode("expires_on", as: CalendarDate?.self)?.daysSinceEpoch)
        }
        return AssessmentScoringData(
            assessment: assessment, tier: tier, questionnaire: questionnaire, requirements: requirements,
            answers: answers,
            evidence: evidence)
    }

    var questionsByKey: [String: Question] {
        Dictionary(questionnaire.content.questions.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
    }

    var scoringQuestions: [ScoringQuestion] {
        let all = questionsByKey
        return questionnaire.content.questions.map { AnswerRules.scoringQuestion($0, all: all) }
    }

    var scoringAnswers: [String: AnswerValue] {
        let all = questionsByKey
        var out: [String: AnswerValue] = [:]
        for a in answers {
            if let q = all[a.questionKey], let v = AnswerRules.scoringValue(a, q) { out[a.questionKey] = v }
        }
        return out
    }

    /// The requirements in scope: those the questionnaire maps, and every must-pass one of its framework.
    var requirementsInScope: [ScoringRequirement] {
        let mapped = Set(questionnaire.content.questions.flatMap { $0.requirements.map(\.ref) })
        return requirements.filter { mapped.contains($0.ref) || $0.mustPass }.map {
            ScoringRequirement(
                ref: $0.ref, title: $0.title, principle: $0.principle.rawValue,
                severity: RequirementSeverity(rawValue: $0.severity.rawValue) ?? .medium, weight: $0.weight,
                mustPass: $0.mustPass, evidenceRequired: $0.evidence.required,
                evidenceMaxAgeDays: $0.evidence.maxAgeDays)
        }
    }

    func card(on day: CalendarDate) -> ScoreCard {
        Scorer.score(
            questions: scoringQuestions, requirements: requirementsInScope, answers: scoringAnswers, evidence: evidence,
            tier: tier, day: day.daysSinceEpoch)
    }

    /// Required questions that are visible and unanswered: what stops a submission.
    var missingRequired: [String] {
        let answered = scoringAnswers
        let visible = Scorer.visibility(questions: scoringQuestions, answers: answered)
        return questionnaire.content.questions.filter {
            $0.required && visible[$0.key] == true && answered[$0.key] == nil
        }
        .map(\.key)
    }

    /// How far the vendor has got: visible required questions answered, of how many.
    var progress: JSON {
        let answered = scoringAnswers
        let visible = Scorer.visibility(questions: scoringQuestions, answers: answered)
        let required = questionnaire.content.questions.filter { $0.required && visible[$0.key] == true }
        return .object([
            ("answered", .int(answered.count)), ("required", .int(required.count)),
            ("required_answered", .int(required.filter { answered[$0.key] != nil }.count)),
            ("questions", .int(questionnaire.content.questions.count)),
        ])
    }
}

extension ScoreCard {
    var json: JSON {
        .object([
            ("overall", overall.map { .number($0) } ?? .null), ("rating", .string(rating.rawValue)),
            ("certification", .string(certification.rawValue)),
            (
                "residual_risk",
                .object([
                    ("inherent", .number(inherentRisk)), ("value", .number(residualRisk)),
                    ("band", .string(riskBand.rawValue)),
                ])
            ),
            (
                "requirements",
                .array(
                    requirements.map { r in
                        .object([
                            ("ref", .string(r.ref)), ("title", .string(r.title)), ("principle", .string(r.principle)),
                            ("severity", .string(r.severity.rawValue)), ("must_pass", .bool(r.mustPass)),
                            ("score", r.score.map { .number($0) } ?? .null), ("status", .string(r.status.rawValue)),
                            ("answered_questions", .int(r.answeredQuestions)), ("evidence_ok", .bool(r.evidenceOK)),
                        ])
                    })
            ),
            (
                "principles",
                .array(
                    principles.map { p in
                        .object([
                            ("principle", .string(p.principle)), ("score", p.score.map { .number($0) } ?? .null),
                            ("met", .int(p.met)), ("partial", .int(p.partial)), ("not_met", .int(p.notMet)),
                            ("not_assessed", .int(p.notAssessed)),
                        ])
                    })
            ),
        ])
    }
}

/// For tests and benchmarks: loads what the score endpoint loads and returns the overall score.
public enum AssessmentScoreProbe {
    public static func load(_ db: Connection, id: UUID) throws -> Double? {
        try AssessmentScoringData.load(db, id: id, scope: .all).card(on: CalendarDate(year: 2026, month: 1, day: 1))
            .overall
    }
}
