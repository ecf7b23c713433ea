import Scoring
import Testing

/// Worked examples: every expected number is worked out by hand in the comment beside it, never by calling
/// the engine to find out.
@Suite struct ScoringExamples {
    let day = 20_000  // the scoring date, days since 1970-01-01

    func yesNo(_ key: String, _ refs: [(String, Double)] = [("A", 1)], showIf: (String, Condition)? = nil)
        -> ScoringQuestion
    {
        ScoringQuestion(
            key: key, kind: .yesNo, requirements: refs.map { ($0.0, $0.1) }, showIf: showIf.map { ($0.0, $0.1) })
    }

    func choice(_ key: String, _ scores: [String: Double], multi: Bool = false, ref: String = "A") -> ScoringQuestion {
        ScoringQuestion(
            key: key, kind: multi ? .multiChoice : .singleChoice, optionScores: scores, requirements: [(ref, 1)])
    }

    func score(
        _ questions: [ScoringQuestion], _ answers: [String: AnswerValue],
        requirements: [ScoringRequirement] = [ScoringRequirement(ref: "A")],
        evidence: [ScoringEvidence] = [], tier: VendorTier = .medium
    ) -> ScoreCard {
        Scorer.score(
            questions: questions, requirements: requirements, answers: answers, evidence: evidence, tier: tier, day: day
        )
    }

    func r(_ card: ScoreCard, _ ref: String = "A") -> RequirementScore { card.requirements.first { $0.ref == ref }! }

    @Test func weightsAverageTheMappedQuestions() {
        // q1 weight 3 answered yes (1), q2 weight 1 answered no (0): R = (3×1 + 1×0) / 4 = 0.75 → partial.
        let card = score([yesNo("q1", [("A", 3)]), yesNo("q2", [("A", 1)])], ["q1": .yes, "q2": .no])
        #expect(r(card).score == 0.75)
        #expect(r(card).status == .partial)
        #expect(r(card).answeredQuestions == 2)
        #expect(card.overall == 75.0)  // one requirement: 100 × 0.75
    }

    @Test func notApplicableIsLeftOut() {
        // q1 yes (1), q2 N/A (none): R = 1×1 / 1 = 1 → met; N/A does not count as 0.
        let card = score([yesNo("q1"), yesNo("q2")], ["q1": .yes, "q2": .notApplicable])
        #expect(r(card).score == 1)
        #expect(r(card).status == .met)
        #expect(r(card).answeredQuestions == 1)
    }

    @Test func hiddenAndUnansweredQuestionsAreLeftOut() {
        // q2 shows only if q1 is yes; q1 is no (0), so q2's yes is ignored: R = 0 / 1 = 0 → not met.
        // q3 shows if q2 is answered; q2 is hidden, so q3 is hidden too, and its yes is ignored.
        let qs = [
            yesNo("q1"), yesNo("q2", showIf: ("q1", .equals(.yes))), yesNo("q3", showIf: ("q2", .answered(true))),
        ]
        let card = score(qs, ["q1": .no, "q2": .yes, "q3": .yes])
        #expect(r(card).score == 0)
        #expect(r(card).status == .notMet)
        // Shown: q1 yes, q2 yes, q3 yes: R = 3 / 3 = 1.
        #expect(r(score(qs, ["q1": .yes, "q2": .yes, "q3": .yes])).score == 1)
        // Nothing answered: not assessed, and no overall.
        let empty = score(qs, [:])
        #expect(r(empty).status == .notAssessed)
        #expect(r(empty).score == nil)
        #expect(empty.overall == nil)
    }

    @Test func showIfInMatchesAnyListedValueAndMultiChoiceMembers() {
        let qs = [
            choice("tool", ["a": 1, "b": 0.5, "c": 0], multi: true, ref: "X"),
            yesNo("followup", showIf: ("tool", .isIn([.choice("b"), .choice("z")]))),
        ]
        let reqs = [ScoringRequirement(ref: "A"), ScoringRequirement(ref: "X")]
        // tool = [a, b] includes b → followup shown: A = 1.
        #expect(r(score(qs, ["tool": .choices(["a", "b"]), "followup": .yes], requirements: reqs)).score == 1)
        // tool = [c] → hidden: A not assessed.
        #expect(r(score(qs, ["tool": .choices(["c"]), "followup": .yes], requirements: reqs)).status == .notAssessed)
    }

    @Test func multiChoiceSumsAreCappedAtOne() {
        let q = choice("m", ["a": 0.6, "b": 0.7, "c": 0.1], multi: true)
        // a + b = 1.3, capped to 1.
        #expect(r(score([q], ["m": .choices(["a", "b"])])).score == 1)
        // a + c = 0.7.
        #expect(r(score([q], ["m": .choices(["a", "c"])])).score == 0.7)
        // single choice: the option's own score.
        #expect(r(score([choice("s", ["x": 0.35])], ["s": .choice("x")])).score == 0.35)
    }

    @Test func numberThresholdsTakeTheFirstMatchElseOtherwise() {
        let q = ScoringQuestion(
            key: "rto", kind: .number, thresholds: [(.lte, 4, 1), (.lte, 24, 0.6), (.gte, 100, 0.1)], otherwise: 0.2,
            requirements: [("A", 1)])
        // 4 ≤ 4 → 1 (lte is inclusive); 5 → second rule 0.6; 24 → 0.6; 50 → no rule → otherwise 0.2;
        // 100 ≥ 100 → 0.1.
        for (x, want) in [(4.0, 1.0), (5, 0.6), (24, 0.6), (50, 0.2), (100, 0.1)] {
            #expect(Scorer.questionScore(q, .number(x)) == want, "\(x)")
        }
        // Without `otherwise` an unmatched number scores 0.
        let noOtherwise = ScoringQuestion(
            key: "n", kind: .number, thresholds: [(.gte, 10, 1)], requirements: [("A", 1)])
        #expect(Scorer.questionScore(noOtherwise, .number(3)) == 0)
        // Text and date questions are never scored.
        #expect(Scorer.questionScore(ScoringQuestion(key: "t", kind: .text), .text("hello")) == nil)
    }

    @Test func evidenceCapsARequirementAtHalfUntilGoodEvidenceExists() {
        let req = ScoringRequirement(ref: "A", evidenceRequired: true, evidenceMaxAgeDays: 365)
        let q = yesNo("q")
        func card(_ evidence: [ScoringEvidence]) -> RequirementScore {
            r(score([q], ["q": .yes], requirements: [req], evidence: evidence))
        }
        // No evidence: R = min(1, 0.5) = 0.5 → partial.
        #expect(card([]).score == 0.5)
        #expect(card([]).status == .partial)
        #expect(card([]).evidenceOK == false)
        // Accepted, issued 10 days ago (within 365), no expiry: the cap lifts, R = 1.
        let good = ScoringEvidence(requirementRefs: ["A"], status: .accepted, issuedOn: day - 10)
        #expect(card([good]).score == 1)
        #expect(card([good]).evidenceOK)
        // Expiring on the scoring date counts as expired; pending, rejected, too old, or for another
        // requirement do not lift the cap.
        #expect(
            card([ScoringEvidence(requirementRefs: ["A"], status: .accepted, issuedOn: day - 10, expiresOn: day)]).score
                == 0.5)
        #expect(
            card([ScoringEvidence(requirementRefs: ["A"], status: .accepted, issuedOn: day - 10, expiresOn: day + 1)])
                .score == 1)
        #expect(card([ScoringEvidence(requirementRefs: ["A"], status: .pending, issuedOn: day - 10)]).score == 0.5)
        #expect(card([ScoringEvidence(requirementRefs: ["A"], status: .rejected, issuedOn: day - 10)]).score == 0.5)
        #expect(card([ScoringEvidence(requirementRefs: ["A"], status: .accepted, issuedOn: day - 366)]).score == 0.5)
        #expect(card([ScoringEvidence(requirementRefs: ["A"], status: .accepted, issuedOn: day - 365)]).score == 1)
        #expect(card([ScoringEvidence(requirementRefs: ["B"], status: .accepted, issuedOn: day - 1)]).score == 0.5)
        // The cap never raises a score: a no (0) stays 0.
        #expect(r(score([q], ["q": .no], requirements: [req])).score == 0)
    }

    @Test func statusBoundariesAreExact() {
        // 4 yes of weight 1 and 1 no: R = 4/5 = 0.8 exactly → met.
        let five = (1...5).map { yesNo("q\($0)") }
        var answers: [String: AnswerValue] = ["q1": .yes, "q2": .yes, "q3": .yes, "q4": .yes, "q5": .no]
        #expect(r(score(five, answers)).status == .met)
        // 2 yes, 3 no: R = 2/5 = 0.4 exactly → partial.
        answers = ["q1": .yes, "q2": .yes, "q3": .no, "q4": .no, "q5": .no]
        #expect(r(score(five, answers)).status == .partial)
        // Just under each boundary.
        #expect(r(score([choice("c", ["x": 0.79])], ["c": .choice("x")])).status == .partial)
        #expect(r(score([choice("c", ["x": 0.39])], ["c": .choice("x")])).status == .notMet)
        #expect(Scorer.status(0.8) == .met && Scorer.status(0.4) == .partial && Scorer.status(nil) == .notAssessed)
    }

    @Test func overallIsTheWeightedMeanOfAssessedRequirementsToOneDecimal() {
        // A (weight 2) R = 1, B (weight 1) R = 0.25 (option score), C (weight 5) not assessed:
        // overall = 100 × (2×1 + 1×0.25) / (2 + 1) = 100 × 2.25 / 3 = 75.0.
        let reqs = [
            ScoringRequirement(ref: "A", weight: 2), ScoringRequirement(ref: "B"),
            ScoringRequirement(ref: "C", weight: 5),
        ]
        let card = score(
            [yesNo("a"), choice("b", ["x": 0.25], ref: "B")], ["a": .yes, "b": .choice("x")], requirements: reqs)
        #expect(card.overall == 75.0)
        // One decimal, half away from zero: R = 0.72250 → 72.25 → 72.3; R = 0.72249 → 72.249 → 72.2.
        #expect(score([choice("c", ["x": 0.7225])], ["c": .choice("x")]).overall == 72.3)
        #expect(score([choice("c", ["x": 0.72249])], ["c": .choice("x")]).overall == 72.2)
    }

    @Test func ratingBoundaries() {
        for (overall, rating) in [
            (100.0, Rating.A), (90, .A), (89.9, .B), (75, .B), (74.9, .C), (60, .C), (59.9, .D), (40, .D), (39.9, .F),
            (0, .F),
        ] {
            #expect(Scorer.rating(overall) == rating, "\(overall)")
        }
        #expect(Scorer.rating(nil) == .F)
        // Through the engine: one requirement at 0.9 → overall 90.0 → A.
        #expect(score([choice("c", ["x": 0.9])], ["c": .choice("x")]).rating == .A)
    }

    @Test func certificationBranches() {
        let mp = ScoringRequirement(ref: "MP", severity: .high, mustPass: true)
        let crit = ScoringRequirement(ref: "CR", severity: .critical)
        let other = ScoringRequirement(ref: "O", weight: 3)
        let qs = [
            choice("mp", ["met": 1, "half": 0.5, "low": 0.1], ref: "MP"),
            choice("cr", ["good": 1, "bad": 0], ref: "CR"),
            choice("o", ["good": 1, "ok": 0.6, "bad": 0], ref: "O"),
        ]
        let reqs = [mp, crit, other]
        // All met: overall = 100 × (1 + 1 + 3) / 5 = 100 → certified.
        #expect(
            score(qs, ["mp": .choice("met"), "cr": .choice("good"), "o": .choice("good")], requirements: reqs)
                .certification == .certified)
        // Must-pass partial (0.5), overall = 100 × (0.5 + 1 + 3) / 5 = 90: not below not_met → conditional.
        #expect(
            score(qs, ["mp": .choice("half"), "cr": .choice("good"), "o": .choice("good")], requirements: reqs)
                .certification == .conditional)
        // All met but overall = 100 × (1 + 1 + 3×0.6) / 5 = 76 < 80 → conditional.
        let low = score(qs, ["mp": .choice("met"), "cr": .choice("good"), "o": .choice("ok")], requirements: reqs)
        #expect(low.overall == 76.0)
        #expect(low.certification == .conditional)
        // A critical requirement not met: overall = 100 × (1 + 0 + 3) / 5 = 80, but → conditional.
        let critical = score(
            qs, ["mp": .choice("met"), "cr": .choice("bad"), "o": .choice("good")], requirements: reqs)
        #expect(critical.overall == 80.0)
        #expect(critical.certification == .conditional)
        // Must-pass not met (0.1) → not certified.
        #expect(
            score(qs, ["mp": .choice("low"), "cr": .choice("good"), "o": .choice("good")], requirements: reqs)
                .certification == .notCertified)
        // Must-pass not assessed → not certified.
        #expect(
            score(qs, ["cr": .choice("good"), "o": .choice("good")], requirements: reqs).certification == .notCertified)
    }

    @Test func residualRiskAndBands() {
        // critical (4) × (1 − 75/100) = 1.0 → medium.
        var card = score([choice("c", ["x": 0.75])], ["c": .choice("x")], tier: .critical)
        #expect(card.inherentRisk == 4 && card.residualRisk == 1.0 && card.riskBand == .medium)
        // high (3) × (1 − 30/100) = 2.1 → high.
        card = score([choice("c", ["x": 0.3])], ["c": .choice("x")], tier: .high)
        #expect(card.residualRisk == 2.1 && card.riskBand == .high)
        // critical (4) × (1 − 50/100) = 2.0 → high (boundary).
        card = score([choice("c", ["x": 0.5])], ["c": .choice("x")], tier: .critical)
        #expect(card.residualRisk == 2.0 && card.riskBand == .high)
        // medium (2) × (1 − 50.1/100) = 2 × 0.499 = 0.998 → low.
        card = score([choice("c", ["x": 0.501])], ["c": .choice("x")], tier: .medium)
        #expect(card.overall == 50.1)
        #expect(card.residualRisk == 0.998)
        #expect(card.riskBand == .low)
        #expect(Scorer.band(0.998) == .low && Scorer.band(1.0) == .medium && Scorer.band(1.99) == .medium)
        // low (1), nothing assessed: 1 × (1 − 0) = 1.0 → medium.
        card = score([yesNo("q")], [:], tier: .low)
        #expect(card.residualRisk == 1.0 && card.riskBand == .medium)
    }

    @Test func principlesCountStatusesAndAverageScores() {
        let reqs = [
            ScoringRequirement(ref: "A", principle: "recover_urgently"),
            ScoringRequirement(ref: "B", principle: "recover_urgently"),
            ScoringRequirement(ref: "C", principle: "run_cautiously"),
        ]
        let qs = [yesNo("a", [("A", 1)]), choice("b", ["x": 0.5], ref: "B")]
        let card = score(qs, ["a": .yes, "b": .choice("x")], requirements: reqs)
        let recover = card.principles.first { $0.principle == "recover_urgently" }!
        // A = 1 (met), B = 0.5 (partial): score = 100 × 1.5 / 2 = 75.0.
        #expect(recover.score == 75.0 && recover.met == 1 && recover.partial == 1 && recover.notMet == 0)
        let run = card.principles.first { $0.principle == "run_cautiously" }!
        #expect(run.score == nil && run.notAssessed == 1)
    }
}

/// A tiny deterministic generator, so property runs are repeatable.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ScoringProperties {
    static func randomCase(_ g: inout SplitMix) -> ([ScoringQuestion], [ScoringRequirement], [String: AnswerValue]) {
        let refs = (0..<Int.random(in: 1...6, using: &g)).map { "R\($0)" }
        let requirements = refs.map {
            ScoringRequirement(
                ref: $0, severity: [.critical, .high, .medium, .low].randomElement(using: &g)!,
                weight: Double(Int.random(in: 1...5, using: &g)), mustPass: Bool.random(using: &g),
                evidenceRequired: Bool.random(using: &g))
        }
        var questions: [ScoringQuestion] = []
        var answers: [String: AnswerValue] = [:]
        for i in 0..<Int.random(in: 1...12, using: &g) {
            let links = [(refs.randomElement(using: &g)!, Double(Int.random(in: 1...3, using: &g)))]
            let key = "q\(i)"
            switch Int.random(in: 0..<4, using: &g) {
            case 0:
                questions.append(ScoringQuestion(key: key, kind: .yesNo, requirements: links))
                answers[key] = [AnswerValue.yes, .no, .notApplicable].randomElement(using: &g)
            case 1:
                let scores = ["a": Double.random(in: 0...1, using: &g), "b": Double.random(in: 0...1, using: &g)]
                questions.append(
                    ScoringQuestion(key: key, kind: .singleChoice, optionScores: scores, requirements: links))
                answers[key] = .choice(["a", "b"].randomElement(using: &g)!)
            case 2:
                let scores = ["a": Double.random(in: 0...1, using: &g), "b": Double.random(in: 0...1, using: &g)]
                questions.append(
                    ScoringQuestion(key: key, kind: .multiChoice, optionScores: scores, requirements: links))
                answers[key] = .choices(Bool.random(using: &g) ? ["a", "b"] : ["b"])
            default:
                questions.append(
                    ScoringQuestion(
                        key: key, kind: .number, thresholds: [(.lte, 10, 1), (.lte, 50, 0.5)], otherwise: 0.1,
                        requirements: links))
                answers[key] = .number(Double(Int.random(in: 0...100, using: &g)))
            }
            if Int.random(in: 0..<5, using: &g) == 0 { answers[key] = nil }
        }
        return (questions, requirements, answers)
    }

    @Test func overallStaysWithin0And100() {
        var g = SplitMix(state: 42)
        for _ in 0..<2000 {
            let (qs, reqs, answers) = ScoringProperties.randomCase(&g)
            let card = Scorer.score(
                questions: qs, requirements: reqs, answers: answers, evidence: [], tier: .high, day: 0)
            if let o = card.overall { #expect(o >= 0 && o <= 100) }
            #expect(card.residualRisk >= 0 && card.residualRisk <= 3)
            for r in card.requirements { if let s = r.score { #expect(s >= 0 && s <= 1) } }
        }
    }

    /// The best answer a question can get.
    static func best(_ q: ScoringQuestion) -> AnswerValue {
        switch q.kind {
        case .yesNo: return .yes
        case .singleChoice: return .choice(q.optionScores.max { $0.value < $1.value }!.key)
        case .multiChoice: return .choices(Array(q.optionScores.keys))
        default: return .number(0)
        }
    }

    @Test func answeringAQuestionBetterNeverLowersTheOverallScore() {
        var g = SplitMix(state: 7)
        for _ in 0..<2000 {
            let (qs, reqs, answers) = ScoringProperties.randomCase(&g)
            let before = Scorer.score(
                questions: qs, requirements: reqs, answers: answers, evidence: [], tier: .low, day: 0)
            guard let q = qs.randomElement(using: &g), let old = answers[q.key], old != .notApplicable else { continue }
            var improved = answers
            improved[q.key] = ScoringProperties.best(q)
            guard Scorer.questionScore(q, improved[q.key]) ?? 0 >= Scorer.questionScore(q, old) ?? 0 else { continue }
            let after = Scorer.score(
                questions: qs, requirements: reqs, answers: improved, evidence: [], tier: .low, day: 0)
            #expect((after.overall ?? 0) >= (before.overall ?? 0), "\(q.key): \(old) → \(improved[q.key]!)")
        }
    }
}
