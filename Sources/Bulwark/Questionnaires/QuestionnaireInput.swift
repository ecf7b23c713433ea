import Foundation
import HTTPServer
import Postgres

/// Reads and validates questionnaire bodies. `refs` are the requirement refs of the questionnaire's
/// framework; every mapping must name one of them.
enum QuestionnaireInput {
    /// Why `value` could never be the answer to `question` (so a show_if on it would never hold), or nil.
    static func impossibleAnswer(_ value: JSON, to question: Question) -> String? {
        let na = question.allowNA ? ", or \"na\"" : ""
        switch question.type {
        case .yesNo:
            guard case .string(let s) = value, s == "yes" || s == "no" || (question.allowNA && s == "na") else {
                return "must be \"yes\" or \"no\"\(na): the answers \(question.key) can have"
            }
        case .singleChoice, .multiChoice:
            guard case .string(let s) = value,
                question.options.contains(where: { $0.value == s }) || (question.allowNA && s == "na")
            else {
                return "must be one of the option values of \(question.key)\(na)"
            }
        case .number:
            guard case .number(let x) = value else { return "must be a number: \(question.key) is a number question" }
            if let r = question.range, (r.min.map { x < $0 } ?? false) || (r.max.map { x > $0 } ?? false) {
                return "is outside the range declared for \(question.key)"
            }
        case .text:
            guard case .string(let s) = value else { return "must be a string: \(question.key) is a text question" }
            // "na" is read as not applicable for every type, so it can only match where N/A is allowed.
            if s == "na" && !question.allowNA { return "cannot be \"na\": \(question.key) does not allow N/A" }
        case .date:
            guard case .string(let s) = value, CalendarDate(s) != nil else {
                return "must be a date written YYYY-MM-DD: \(question.key) is a date question"
            }
        case .evidence:
            return "cannot compare the answer to an evidence question; use answered"
        }
        return nil
    }

    static let topFields: Set<String> = ["name", "description", "framework_id", "sections"]

    /// The framework id a body names (needed before the rest can be validated against its refs).
    static func frameworkID(_ body: [(String, JSON)]) throws -> UUID? {
        let r = FieldReader(body)
        let id = r.uuid("framework_id")
        try r.throwIfInvalid()
        return id.value
    }

    static func create(_ body: [(String, JSON)], refs: Set<String>) throws -> QuestionnaireContent {
        let r = FieldReader(body)
        r.rejectUnknown(topFields)
        let name = r.string("name", length: 1...200)
        let description = r.string("description", nullable: true, length: 0...5000, multiline: true)
        let framework = r.uuid("framework_id")
        if !name.isPresent { r.fail("name", "is required") }
        if !framework.isPresent { r.fail("framework_id", "is required") }
        if r.raw("sections") == nil { r.fail("sections", "is required") }
        let sections = readSections(r, refs: refs)
        try throwIfInvalid(r)
        return QuestionnaireContent(
            name: name.value ?? "", description: description.value ?? "", frameworkID: framework.value ?? UUID(),
            sections: sections ?? [])
    }

    static func patch(_ body: [(String, JSON)], onto current: QuestionnaireContent, refs: Set<String>) throws
        -> QuestionnaireContent
    {
        let r = FieldReader(body)
        r.rejectUnknown(topFields)
        var c = current
        if let n = r.string("name", length: 1...200).value { c.name = n }
        switch r.string("description", nullable: true, length: 0...5000, multiline: true) {
        case .value(let d): c.description = d
        case .null: c.description = ""
        default: break
        }
        if let f = r.uuid("framework_id").value { c.frameworkID = f }
        if r.raw("sections") != nil {
            if let s = readSections(r, refs: refs) { c.sections = s }
        } else if c.frameworkID != current.frameworkID {
            // The mappings must still hold against the new framework.
            let again = FieldReader([("sections", c.sectionsJSON(forVendor: false))])
            _ = readSections(again, refs: refs)
            r.absorb(again.errors)
        }
        try throwIfInvalid(r)
        return c
    }

    /// Stored sections were validated when written; this reads them back.
    static func stored(_ json: JSON) throws -> [Section] {
        let r = FieldReader([("sections", json)])
        guard let sections = readSections(r, refs: nil), r.errors.isEmpty else {
            throw PostgresError.decoding(column: "sections", message: "stored questionnaire does not validate")
        }
        return sections
    }

    private static func throwIfInvalid(_ r: FieldReader) throws {
        if !r.errors.isEmpty {
            throw APIError.validation(r.errors, detail: "\(r.errors[0].field): \(r.errors[0].message)")
        }
    }

    private static func readSections(_ r: FieldReader, refs: Set<String>?) -> [Section]? {
        var sectionKeys = Set<String>()
        var earlier: [String: Question] = [:]  // questions seen so far, in document order
        let sections = r.array("sections", maxItems: 50) { json, path, parent -> Section? in
            guard case .object(let pairs) = json else {
                parent.absorb([FieldError(path, "must be an object")])
                return nil
            }
            let s = FieldReader(pairs, path: path)
            s.rejectUnknown(["key", "title", "questions"])
            let key = s.string("key", length: 1...64)
            if let k = key.value {
                if !Validate.key(k) {
                    s.fail("key", "must be lower-case letters, digits and '_', starting with a letter")
                } else if !sectionKeys.insert(k).inserted {
                    s.fail("key", "repeats section \(k)")
                }
            } else if !key.isPresent {
                s.fail("key", "is required")
            }
            let title = s.string("title", length: 1...200)
            if !title.isPresent { s.fail("title", "is required") }
            let questions = s.array("questions", maxItems: 300) { json, qpath, qparent in
                question(json, qpath, qparent, refs: refs, earlier: &earlier)
            }
            switch questions {
            case .absent: s.fail("questions", "is required")
            case .value(let list) where list.isEmpty:
                s.fail("questions", "must not be empty: a section needs a question")
            default: break
            }
            parent.absorb(s.errors)
            guard s.errors.isEmpty, let k = key.value, let t = title.value, let qs = questions.value else { return nil }
            return Section(key: k, title: t, questions: qs)
        }
        if let list = sections.value, list.isEmpty { r.fail("sections", "must not be empty") }
        return sections.value
    }

    private static func score(_ json: JSON?) -> Double? {
        if case .number(let d)? = json, d >= 0, d <= 1 { return d }
        return nil
    }

    private static func question(
        _ json: JSON, _ path: String, _ parent: FieldReader, refs: Set<String>?, earlier: inout [String: Question]
    ) -> Question? {
        guard case .object(let pairs) = json else {
            parent.absorb([FieldError(path, "must be an object")])
            return nil
        }
        let q = FieldReader(pairs, path: path)
        q.rejectUnknown([
            "key", "text", "help", "type", "required", "allow_na", "options", "scoring", "range", "requirements",
            "show_if",
            "evidence_kinds",
        ])
        let key = q.string("key", length: 1...64)
        if let k = key.value {
            if !Validate.key(k) {
                q.fail("key", "must be lower-case letters, digits and '_', starting with a letter")
            } else if earlier[k] != nil {
                q.fail("key", "repeats question \(k): question keys are unique in a questionnaire")
            }
        } else if !key.isPresent {
            q.fail("key", "is required")
        }
        let text = q.string("text", length: 1...2000)
        if !text.isPresent { q.fail("text", "is required") }
        let help = q.string("help", nullable: true, length: 0...5000, multiline: true)
        let type = q.enumeration("type", QuestionType.self)
        if !type.isPresent { q.fail("type", "is required") }
        let required = q.bool("required").value ?? true
        let allowNA = q.bool("allow_na").value ?? false
        let kind = type.value

        // Options: choice questions need them, each with a score in [0, 1]; other types must have none.
        var options: [Option] = []
        var values = Set<String>()
        let parsedOptions = q.objects("options", maxItems: 100) { or -> Option? in
            or.rejectUnknown(["value", "label", "score"])
            let value = or.string("value", length: 1...100)
            if !value.isPresent { or.fail("value", "is required") }
            if let v = value.value, !values.insert(v).inserted { or.fail("value", "repeats option \(v)") }
            let label = or.string("label", length: 1...300)
            if !label.isPresent { or.fail("label", "is required") }
            let s = score(or.raw("score"))
            if or.raw("score") == nil || or.raw("score") == .null {
                or.fail("score", "is required: a choice is scored by its options")
            } else if s == nil {
                or.fail("score", "must be a number from 0 to 1")
            }
            guard let v = value.value, let l = label.value, let sc = s else { return nil }
            return Option(value: v, label: l, score: sc)
        }
        if case .value(let list) = parsedOptions { options = list }
        if case .null? = q.raw("options") {} else if q.raw("options") != nil, case .invalid = parsedOptions {}
        if let kind {
            if kind.hasOptions && options.isEmpty && q.errors.allSatisfy({ !$0.field.hasPrefix(q.name("options")) }) {
                q.fail("options", "a \(kind.rawValue) question needs options with scores")
            }
            if !kind.hasOptions && !options.isEmpty { q.fail("options", "only choice questions have options") }
            if allowNA && kind != .yesNo && kind != .singleChoice && kind != .multiChoice && kind != .number {
                q.fail("allow_na", "is only for scored questions")
            }
        }

        // Number scoring: thresholds `{lte|gte, score}` tried in order, then `otherwise`.
        var scoring: NumberScoring?
        switch q.object(
            "scoring", nullable: true,
            read: { s -> NumberScoring? in
                s.rejectUnknown(["thresholds", "otherwise"])
                let thresholds = s.objects("thresholds", maxItems: 50) { tr -> Threshold? in
                    tr.rejectUnknown(["lte", "gte", "score"])
                    let lte = tr.raw("lte")
                    let gte = tr.raw("gte")
                    var out: Threshold?
                    let sc = score(tr.raw("score"))
                    if sc == nil { tr.fail("score", "must be a number from 0 to 1") }
                    switch (lte, gte) {
                    case (.number(let b)?, nil): out = sc.map { Threshold(comparison: .lte, bound: b, score: $0) }
                    case (nil, .number(let b)?): out = sc.map { Threshold(comparison: .gte, bound: b, score: $0) }
                    default: tr.fail("lte", "give exactly one of lte or gte, as a number")
                    }
                    return out
                }
                var otherwise = 0.0
                if let o = s.raw("otherwise"), o != .null {
                    if let v = score(o) { otherwise = v } else { s.fail("otherwise", "must be a number from 0 to 1") }
                }
                if !thresholds.isPresent { s.fail("thresholds", "is required") }
                return NumberScoring(thresholds: thresholds.value ?? [], otherwise: otherwise)
            })
        {
        case .value(let s): scoring = s
        default: break
        }
        if kind == .number && scoring == nil && !q.errors.contains(where: { $0.field.hasPrefix(q.name("scoring")) }) {
            q.fail("scoring", "a number question needs scoring thresholds")
        }
        if let kind, kind != .number, scoring != nil {
            q.fail("scoring", "only number questions have scoring thresholds")
        }

        var range: NumberRange?
        switch q.object(
            "range", nullable: true,
            read: { rr -> NumberRange? in
                rr.rejectUnknown(["min", "max"])
                func bound(_ k: String) -> Double? {
                    switch rr.raw(k) {
                    case .number(let d)?: return d
                    case nil, .null?: return nil
                    default:
                        rr.fail(k, "must be a number")
                        return nil
                    }
                }
                let lo = bound("min")
                let hi = bound("max")
                if let lo, let hi, lo > hi { rr.fail("max", "must not be below min") }
                return NumberRange(min: lo, max: hi)
            })
        {
        case .value(let v): range = v
        default: break
        }
        if let kind, kind != .number, range != nil { q.fail("range", "only number questions have a range") }

        // Requirement mappings.
        var linked = Set<String>()
        let links = q.objects("requirements", maxItems: 50) { lr -> RequirementLink? in
            lr.rejectUnknown(["ref", "weight"])
            let ref = lr.string("ref", length: 1...64)
            if !ref.isPresent { lr.fail("ref", "is required") }
            if let v = ref.value {
                if let refs, !refs.contains(v) {
                    lr.fail("ref", "\(v) is not a requirement of the questionnaire's framework")
                } else if !linked.insert(v).inserted {
                    lr.fail("ref", "repeats \(v)")
                }
            }
            let weight = lr.weight("weight")
            guard let v = ref.value else { return nil }
            return RequirementLink(ref: v, weight: weight)
        }

        // show_if may only look back: at a question earlier in the document (so there can be no cycle).
        var showIf: ShowIf?
        switch q.object(
            "show_if", nullable: true,
            read: { sr -> ShowIf? in
                sr.rejectUnknown(["question", "equals", "in", "answered"])
                let target = sr.string("question", length: 1...64)
                guard let t = target.value else {
                    if !target.isPresent { sr.fail("question", "is required") }
                    return nil
                }
                guard earlier[t] != nil else {
                    sr.fail("question", "must name an earlier question; \(t) is missing or comes later")
                    return nil
                }
                let conditions = ["equals", "in", "answered"].filter { sr.raw($0) != nil }
                guard conditions.count == 1 else {
                    sr.fail("equals", "give exactly one of equals, in or answered")
                    return nil
                }
                let targetQuestion = earlier[t]
                switch conditions[0] {
                case "equals":
                    let v = sr.raw("equals") ?? .null
                    if let q = targetQuestion, let problem = QuestionnaireInput.impossibleAnswer(v, to: q) {
                        sr.fail("equals", problem)
                    }
                    return .equals(question: t, value: v)
                case "in":
                    guard case .array(let vs)? = sr.raw("in"), !vs.isEmpty, vs.count <= 100 else {
                        sr.fail("in", "must be a non-empty array of at most 100 values")
                        return nil
                    }
                    for (i, v) in vs.enumerated() {
                        if let q = targetQuestion, let problem = QuestionnaireInput.impossibleAnswer(v, to: q) {
                            sr.fail("in[\(i)]", problem)
                        }
                    }
                    return .isIn(question: t, values: vs)
                default:
                    guard case .bool(let a)? = sr.raw("answered") else {
                        sr.fail("answered", "must be true or false")
                        return nil
                    }
                    return .answered(question: t, a)
                }
            })
        {
        case .value(let s): showIf = s
        default: break
        }

        var kinds: [String] = []
        if let k = q.array(
            "evidence_kinds", maxItems: 20,
            item: { json, kpath, kparent -> String? in
                guard case .string(let s) = json, Validate.slug(s) else {
                    kparent.absorb([FieldError(kpath, "must be an evidence kind such as dr_test_report")])
                    return nil
                }
                return s
            }
        ).value {
            kinds = k
        }
        if let kind, kind != .evidence, !kinds.isEmpty {
            q.fail("evidence_kinds", "only evidence questions have kinds")
        }

        parent.absorb(q.errors)
        guard q.errors.isEmpty, let k = key.value, let t = text.value, let kind else { return nil }
        let result = Question(
            key: k, text: t, help: help.value ?? "", type: kind, required: required, allowNA: allowNA, options: options,
            scoring: scoring, range: range, requirements: links.value ?? [], showIf: showIf, evidenceKinds: kinds)
        earlier[k] = result
        return result
    }
}
