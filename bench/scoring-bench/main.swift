// Times the scoring engine alone on a synthetic assessment: 300 questions over 100 requirements, every
// question type, show_if chains and evidence caps. Prints microseconds per score.
import Dispatch
import Scoring

let requirementCount = 100
let questionCount = 300
var requirements: [ScoringRequirement] = []
for i in 0..<requirementCount {
    requirements.append(
        ScoringRequirement(
            ref: "R\(i)", title: "Requirement \(i)", principle: "p\(i % 8)",
            severity: [.critical, .high, .medium, .low][i % 4], weight: Double(1 + i % 3), mustPass: i % 10 == 0,
            evidenceRequired: i % 3 == 0, evidenceMaxAgeDays: 365))
}
var questions: [ScoringQuestion] = []
var answers: [String: AnswerValue] = [:]
for i in 0..<questionCount {
    let key = "q\(i)"
    let links = [("R\(i % requirementCount)", 1.0), ("R\((i * 7) % requirementCount)", 2.0)]
    let showIf: (String, Condition)? = i % 10 == 9 ? ("q\(i - 1)", .answered(true)) : nil
    switch i % 4 {
    case 0:
        questions.append(ScoringQuestion(key: key, kind: .yesNo, requirements: links, showIf: showIf))
        answers[key] = i % 8 == 0 ? .yes : .no
    case 1:
        questions.append(
            ScoringQuestion(
                key: key, kind: .singleChoice, optionScores: ["a": 1, "b": 0.5, "c": 0], requirements: links,
                showIf: showIf))
        answers[key] = .choice(["a", "b", "c"][i % 3])
    case 2:
        questions.append(
            ScoringQuestion(
                key: key, kind: .multiChoice, optionScores: ["a": 0.4, "b": 0.4, "c": 0.4], requirements: links,
                showIf: showIf))
        answers[key] = .choices(["a", "b"])
    default:
        questions.append(
            ScoringQuestion(
                key: key, kind: .number, thresholds: [(.lte, 4, 1), (.lte, 24, 0.6), (.lte, 72, 0.3)], otherwise: 0,
                requirements: links, showIf: showIf))
        answers[key] = .number(Double(i % 100))
    }
}
let evidence = (0..<40).map {
    ScoringEvidence(requirementRefs: ["R\($0 * 3)"], status: .accepted, issuedOn: 20_000 - $0, expiresOn: 20_400)
}

@MainActor func run(_ n: Int) -> (Double, Double?) {
    var last: Double?
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<n {
        last =
            Scorer.score(
                questions: questions, requirements: requirements, answers: answers, evidence: evidence, tier: .high,
                day: 20_000
            ).overall
    }
    return (Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n) / 1000, last)
}

_ = run(50)  // warm up
var samples: [Double] = []
var overall: Double?
for _ in 0..<7 {
    let (us, o) = run(500)
    samples.append(us)
    overall = o
}
samples.sort()
func oneDecimal(_ x: Double) -> String { String((x * 10).rounded() / 10) }
print(
    "scoring engine: \(questionCount) questions, \(requirementCount) requirements: median \(oneDecimal(samples[3])) µs per score "
        + "(min \(oneDecimal(samples[0])), max \(oneDecimal(samples[6]))); overall \(overall.map { String($0) } ?? "none")"
)
