/// Bulwark's scoring, exactly as DESIGN.md defines it: plain values in, plain values out. No SQL, no HTTP,
/// no clock — the scoring date is a parameter.

public enum QuestionKind: String, Sendable {
    case yesNo = "yes_no"
    case singleChoice = "single_choice"
    case multiChoice = "multi_choice"
    case number, text, date, evidence
}

/// An answer's value, already validated against its question.
public enum AnswerValue: Sendable, Equatable {
    case yes
    case no
    case notApplicable
    case choice(String)
    case choices([String])
    case number(Double)
    case text(String)
    /// An evidence question answered by evidence ids (their content is not scored).
    case evidence
}

public enum Condition: Sendable, Equatable {
    /// The earlier question's answer equals this (for a multi-choice: includes it).
    case equals(AnswerValue)
    /// The earlier question's answer is one of these (for a multi-choice: includes one of them).
    case isIn([AnswerValue])
    /// The earlier question is (or is not) answered.
    case answered(Bool)
}

public struct ScoringQuestion: Sendable {
    public enum Comparison: Sendable { case lte, gte }

    public var key: String
    public var kind: QuestionKind
    public var optionScores: [String: Double]
    public var thresholds: [(comparison: Comparison, bound: Double, score: Double)]
    public var otherwise: Double
    /// (requirement ref, weight)
    public var requirements: [(ref: String, weight: Double)]
    public var showIf: (question: String, condition: Condition)?

    public init(
        key: String, kind: QuestionKind, optionScores: [String: Double] = [:],
        thresholds: [(comparison: Comparison, bound: Double, score: Double)] = [], otherwise: Double = 0,
        requirements: [(ref: String, weight: Double)] = [], showIf: (question: String, condition: Condition)? = nil
    ) {
        self.key = key
        self.kind = kind
        self.optionScores = optionScores
        self.thresholds = thresholds
        self.otherwise = otherwise
        self.requirements = requirements
        self.showIf = showIf
    }
}

public enum RequirementSeverity: String, Sendable { case critical, high, medium, low }

public struct ScoringRequirement: Sendable {
    public var ref: String
    public var title: String
    public var principle: String
    public var severity: RequirementSeverity
    public var weight: Double
    public var mustPass: Bool
    public var evidenceRequired: Bool
    public var evidenceMaxAgeDays: Int?

    public init(
        ref: String, title: String = "", principle: String = "", severity: RequirementSeverity = .medium,
        weight: Double = 1,
        mustPass: Bool = false, evidenceRequired: Bool = false, evidenceMaxAgeDays: Int? = nil
    ) {
        self.ref = ref
        self.title = title
        self.principle = principle
        self.severity = severity
        self.weight = weight
        self.mustPass = mustPass
        self.evidenceRequired = evidenceRequired
        self.evidenceMaxAgeDays = evidenceMaxAgeDays
    }
}

/// An evidence item as far as scoring cares. Dates are days since 1970-01-01.
public struct ScoringEvidence: Sendable {
    public enum Status: String, Sendable { case pending, accepted, rejected }
    public var requirementRefs: Set<String>
    public var status: Status
    public var issuedOn: Int?
    public var expiresOn: Int?

    public init(requirementRefs: Set<String>, status: Status, issuedOn: Int? = nil, expiresOn: Int? = nil) {
        self.requirementRefs = requirementRefs
        self.status = status
        self.issuedOn = issuedOn
        self.expiresOn = expiresOn
    }
}

public enum RequirementStatus: String, Sendable, CaseIterable {
    case met, partial
    case notMet = "not_met"
    case notAssessed = "not_assessed"
}

public enum Rating: String, Sendable { case A, B, C, D, F }

public enum Certification: String, Sendable {
    case certified, conditional
    case notCertified = "not_certified"
}

public enum VendorTier: String, Sendable {
    case critical, high, medium, low

    /// Inherent risk: 4, 3, 2, 1.
    public var inherentRisk: Double {
        switch self {
        case .critical: return 4
        case .high: return 3
        case .medium: return 2
        case .low: return 1
        }
    }
}

public enum RiskBand: String, Sendable { case high, medium, low }

public struct RequirementScore: Sendable, Equatable {
    public var ref: String
    public var title: String
    public var principle: String
    public var severity: RequirementSeverity
    public var mustPass: Bool
    /// R in [0, 1] after the evidence cap; nil when not assessed.
    public var score: Double?
    public var status: RequirementStatus
    public var answeredQuestions: Int
    public var evidenceOK: Bool
}

public struct PrincipleScore: Sendable, Equatable {
    public var principle: String
    /// 0–100, one decimal; nil when nothing under it was assessed.
    public var score: Double?
    public var met = 0
    public var partial = 0
    public var notMet = 0
    public var notAssessed = 0
}

public struct ScoreCard: Sendable, Equatable {
    /// 0–100, one decimal; nil when no requirement was assessed.
    public var overall: Double?
    public var rating: Rating
    public var certification: Certification
    public var inherentRisk: Double
    public var residualRisk: Double
    public var riskBand: RiskBand
    public var requirements: [RequirementScore]
    public var principles: [PrincipleScore]
}

public enum Scorer {
    /// Status boundaries are compared with a little slack so that a sum of weighted shares that is 0.8 on
    /// paper is not 0.7999999 in binary.
    static let epsilon = 1e-9

    public static func status(_ r: Double?) -> RequirementStatus {
        guard let r else { return .notAssessed }
        if r >= 0.8 - epsilon { return .met }
        if r >= 0.4 - epsilon { return .partial }
        return .notMet
    }

    public static func rating(_ overall: Double?) -> Rating {
        guard let o = overall else { return .F }
        if o >= 90 { return .A }
        if o >= 75 { return .B }
        if o >= 60 { return .C }
        if o >= 40 { return .D }
        return .F
    }

    public static func band(_ residual: Double) -> RiskBand {
        if residual >= 2.0 - epsilon { return .high }
        if residual >= 1.0 - epsilon { return .medium }
        return .low
    }

    /// Rounds half away from zero to `places` decimals, after removing binary noise.
    public static func round(_ x: Double, places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = x * scale
        let cleaned = (scaled * 1e6).rounded() / 1e6
        return cleaned.rounded(.toNearestOrAwayFromZero) / scale
    }

    /// Which questions are visible: show_if looks at an earlier question, whose own visibility counts
    /// (a hidden question's answer is ignored, as if unanswered).
    public static func visibility(questions: [ScoringQuestion], answers: [String: AnswerValue]) -> [String: Bool] {
        var visible: [String: Bool] = [:]
        for q in questions {
            guard let (target, condition) = q.showIf else {
                visible[q.key] = true
                continue
            }
            let answer = (visible[target] ?? false) ? answers[target] : nil
            visible[q.key] = holds(condition, answer)
        }
        return visible
    }

    static func holds(_ condition: Condition, _ answer: AnswerValue?) -> Bool {
        switch condition {
        case .answered(let wanted): return (answer != nil) == wanted
        case .equals(let v): return answer.map { matches($0, v) } ?? false
        case .isIn(let vs): return answer.map { a in vs.contains { matches(a, $0) } } ?? false
        }
    }

    static func matches(_ answer: AnswerValue, _ wanted: AnswerValue) -> Bool {
        if case .choices(let chosen) = answer, case .choice(let one) = wanted { return chosen.contains(one) }
        return answer == wanted
    }

    /// Rule 1: a question's score, or nil (not scored, N/A, unanswered).
    public static func questionScore(_ q: ScoringQuestion, _ answer: AnswerValue?) -> Double? {
        guard let answer else { return nil }
        switch (q.kind, answer) {
        case (_, .notApplicable): return nil
        case (.yesNo, .yes): return 1
        case (.yesNo, .no): return 0
        case (.singleChoice, .choice(let v)): return q.optionScores[v]
        case (.multiChoice, .choices(let vs)): return min(1, vs.reduce(0) { $0 + (q.optionScores[$1] ?? 0) })
        case (.number, .number(let x)):
            for t in q.thresholds {
                switch t.comparison {
                case .lte where x <= t.bound: return t.score
                case .gte where x >= t.bound: return t.score
                default: continue
                }
            }
            return q.otherwise
        default: return nil
        }
    }

    /// Rule 3: accepted, not expired on the scoring date, issued within the maximum age where one is set.
    public static func evidenceOK(_ r: ScoringRequirement, _ evidence: [ScoringEvidence], onDay day: Int) -> Bool {
        evidence.contains { e in
            guard e.status == .accepted, e.requirementRefs.contains(r.ref) else { return false }
            if let expires = e.expiresOn, expires <= day { return false }
            if let maxAge = r.evidenceMaxAgeDays {
                guard let issued = e.issuedOn, issued <= day, day - issued <= maxAge else { return false }
            }
            return true
        }
    }

    /// The whole score card. `requirements` are those in scope: the ones the questionnaire maps and every
    /// must-pass one of its framework. `day` is the scoring date in days since 1970-01-01.
    public static func score(
        questions: [ScoringQuestion], requirements: [ScoringRequirement], answers: [String: AnswerValue],
        evidence: [ScoringEvidence], tier: VendorTier, day: Int
    ) -> ScoreCard {
        // Strings are hashed once each here; the loops below work on indices.
        var questionIndex: [String: Int] = [:]
        questionIndex.reserveCapacity(questions.count)
        var given: [AnswerValue?] = []
        given.reserveCapacity(questions.count)
        for (i, q) in questions.enumerated() {
            questionIndex[q.key] = i
            given.append(answers[q.key])
        }
        var visible = [Bool](repeating: false, count: questions.count)
        for (i, q) in questions.enumerated() {
            guard let (target, condition) = q.showIf else {
                visible[i] = true
                continue
            }
            let t = questionIndex[target]
            let answer = t.flatMap { $0 < i && visible[$0] ? given[$0] : nil }
            visible[i] = holds(condition, answer)
        }
        var requirementIndex: [String: Int] = [:]
        requirementIndex.reserveCapacity(requirements.count)
        for (i, r) in requirements.enumerated() { requirementIndex[r.ref] = i }
        // Rule 2 sums, per requirement: sum(w × s), sum(w) and how many answered questions count.
        var weighted = [Double](repeating: 0, count: requirements.count)
        var weights = [Double](repeating: 0, count: requirements.count)
        var answeredCount = [Int](repeating: 0, count: requirements.count)
        for (i, q) in questions.enumerated() where visible[i] {
            guard let s = questionScore(q, given[i]) else { continue }
            for link in q.requirements {
                guard let r = requirementIndex[link.ref] else { continue }
                weighted[r] += link.weight * s
                weights[r] += link.weight
                answeredCount[r] += 1
            }
        }
        // Rule 3, prepared once: per requirement, whether some accepted item is unexpired on `day`, and the
        // latest issue date among those.
        var anyValid = [Bool](repeating: false, count: requirements.count)
        var latestIssued = [Int?](repeating: nil, count: requirements.count)
        for e in evidence where e.status == .accepted {
            if let expires = e.expiresOn, expires <= day { continue }
            for ref in e.requirementRefs {
                guard let r = requirementIndex[ref] else { continue }
                anyValid[r] = true
                if let issued = e.issuedOn, issued <= day, issued > (latestIssued[r] ?? Int.min) {
                    latestIssued[r] = issued
                }
            }
        }
        var scored: [RequirementScore] = []
        var principleOrder: [String] = []
        var byPrinciple: [String: (weighted: Double, weights: Double, card: PrincipleScore)] = [:]
        var overallWeighted = 0.0
        var overallWeights = 0.0
        for (i, r) in requirements.enumerated() {
            var value: Double?
            if weights[i] > 0 { value = weighted[i] / weights[i] }
            let ok: Bool
            if let maxAge = r.evidenceMaxAgeDays {
                ok = latestIssued[i].map { day - $0 <= maxAge } ?? false
            } else {
                ok = anyValid[i]
            }
            if r.evidenceRequired && !ok, let v = value { value = min(v, 0.5) }  // rule 3
            let st = status(value)  // rule 4
            scored.append(
                RequirementScore(
                    ref: r.ref, title: r.title, principle: r.principle, severity: r.severity, mustPass: r.mustPass,
                    score: value.map { round($0, places: 4) }, status: st,
                    answeredQuestions: answeredCount[i],
                    evidenceOK: ok))
            if byPrinciple[r.principle] == nil {
                principleOrder.append(r.principle)
                byPrinciple[r.principle] = (0, 0, PrincipleScore(principle: r.principle))
            }
            var p = byPrinciple[r.principle]!
            switch st {
            case .met: p.card.met += 1
            case .partial: p.card.partial += 1
            case .notMet: p.card.notMet += 1
            case .notAssessed: p.card.notAssessed += 1
            }
            if let v = value {
                p.weighted += r.weight * v
                p.weights += r.weight
                overallWeighted += r.weight * v
                overallWeights += r.weight
            }
            byPrinciple[r.principle] = p
        }
        // Rule 5.
        let overall = overallWeights > 0 ? round(100 * overallWeighted / overallWeights, places: 1) : nil
        // Rule 7.
        let mustPassBelowMet = scored.contains { $0.mustPass && $0.status != .met }
        let criticalNotMet = scored.contains { $0.severity == .critical && $0.status == .notMet }
        let mustPassFailing = scored.contains { $0.mustPass && ($0.status == .notMet || $0.status == .notAssessed) }
        let certification: Certification
        if let o = overall, o >= 80, !mustPassBelowMet, !criticalNotMet {
            certification = .certified
        } else if mustPassFailing {
            certification = .notCertified
        } else {
            certification = .conditional
        }
        // Rule 8: with nothing assessed, nothing reduces the inherent risk.
        let residualExact = tier.inherentRisk * (1 - (overall ?? 0) / 100)
        let principles = principleOrder.map { name -> PrincipleScore in
            let p = byPrinciple[name]!
            var card = p.card
            card.score = p.weights > 0 ? round(100 * p.weighted / p.weights, places: 1) : nil
            return card
        }
        return ScoreCard(
            overall: overall, rating: rating(overall), certification: certification, inherentRisk: tier.inherentRisk,
            residualRisk: round(residualExact, places: 3), riskBand: band(residualExact), requirements: scored,
            principles: principles)
    }
}
