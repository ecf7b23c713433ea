import Foundation
import HTTPServer
import Postgres
import Scoring

/// `/v1/assessments`: send, answer, submit, review, cancel, score.
struct AssessmentRoutes {
    let store = AssessmentStore()
    let now: @Sendable () -> Date

    func register(_ router: inout Router) {
        router.add("GET", "/v1/assessments") { request, context in try list(request, context) }
        router.add("POST", "/v1/assessments") { request, context in try create(request, context) }
        router.add("GET", "/v1/assessments/{id}") { request, context in try get(request, context) }
        router.add("GET", "/v1/assessments/{id}/answers") { request, context in try answers(request, context) }
        router.add("PUT", "/v1/assessments/{id}/answers/{question_key}") { request, context in
            try putAnswer(request, context)
        }
        router.add("PATCH", "/v1/assessments/{id}/answers") { request, context in try patchAnswers(request, context) }
        router.add("POST", "/v1/assessments/{id}/submit") { request, context in try submit(request, context) }
        router.add("POST", "/v1/assessments/{id}/review") { request, context in try review(request, context) }
        router.add("POST", "/v1/assessments/{id}/cancel") { request, context in try cancel(request, context) }
        router.add("GET", "/v1/assessments/{id}/score") { request, context in try score(request, context) }
    }

    var today: CalendarDate { CalendarDate(daysSinceEpoch: Int((now().timeIntervalSince1970 / 86_400).rounded(.down))) }

    func list(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor", "vendor_id", "status", "due_before"])
        var filter = AssessmentFilter()
        filter.vendorID = q.uuid("vendor_id")
        filter.status = q.enumeration("status", AssessmentStatus.self)
        if let d = request.queryValue("due_before") {
            if let date = CalendarDate(d) {
                filter.dueBefore = date
            } else {
                q.fail("due_before", "must be a date written YYYY-MM-DD")
            }
        }
        let limit = q.limit()
        let cursor = q.cursor()
        try q.throwIfInvalid()
        let page = try store.list(
            try context.db(), scope: VendorScope(principal), filter: filter, limit: limit, after: cursor)
        return .json(200, page.json { $0.json() })
    }

    func create(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let r = FieldReader(try JSONBody.object(request))
        r.rejectUnknown(["vendor_id", "questionnaire_id", "due_date"])
        let vendor = r.uuid("vendor_id")
        let questionnaire = r.uuid("questionnaire_id")
        let due = r.date("due_date")
        for (k, present) in [
            ("vendor_id", vendor.isPresent), ("questionnaire_id", questionnaire.isPresent), ("due_date", due.isPresent),
        ]
        where !present {
            r.fail(k, "is required")
        }
        if let d = due.value, d < today { r.fail("due_date", "must not be in the past") }
        try r.throwIfInvalid()
        guard let vendorID = vendor.value, let questionnaireID = questionnaire.value, let dueDate = due.value else {
            throw APIError.internal()
        }
        let a = try store.create(
            try context.db(), vendorID: vendorID, questionnaireID: questionnaireID, dueDate: dueDate,
            actor: Actor(principal, request, context))
        return .json(
            201, a.json(), headers: [("Location", "/v1/assessments/\(a.id.uuidString.lowercased())"), ("ETag", a.etag)])
    }

    func get(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let data = try AssessmentScoringData.load(
            try context.db(), id: try request.uuidParameter(), scope: VendorScope(principal))
        return .json(200, data.assessment.json(progress: data.progress), headers: [("ETag", data.assessment.etag)])
    }

    func answers(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let q = QueryReader(request)
        q.rejectUnknown(["history"])
        let withHistory = q.bool("history") ?? false
        try q.throwIfInvalid()
        let db = try context.db()
        guard try store.get(db, id: id, scope: VendorScope(principal)) != nil else { throw APIError.notFound() }
        let list = try store.answers(db, assessmentID: id)
        let history = withHistory ? try store.history(db, assessmentID: id) : [:]
        let items: [JSON] = list.map { a in
            guard withHistory, case .object(var pairs) = a.json else { return a.json }
            pairs.append(("history", .array((history[a.questionKey] ?? []).map(\.json))))
            return .object(pairs)
        }
        return .json(200, .object([("items", .array(items)), ("next_cursor", .null)]))
    }

    /// The assessment and its questions, for answering; 404 outside the caller's scope.
    func answerable(_ context: Context, _ id: UUID, _ principal: Principal) throws -> (Assessment, [String: Question]) {
        let db = try context.db()
        guard let a = try store.get(db, id: id, scope: VendorScope(principal)) else { throw APIError.notFound() }
        guard let q = try QuestionnaireStore().get(db, id: a.questionnaireID) else { throw APIError.internal() }
        return (a, Dictionary(q.content.questions.map { ($0.key, $0) }, uniquingKeysWith: { x, _ in x }))
    }

    func putAnswer(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let key = request.pathParameter("question_key") ?? ""
        let body = try JSONBody.object(request)
        let (assessment, questions) = try answerable(context, id, principal)
        guard let question = questions[key] else {
            throw APIError.notFound("The questionnaire has no question \(key).")
        }
        var errors: [FieldError] = []
        guard let input = AnswerRules.read(.object(body), question: question, path: "answers.\(key)", into: &errors)
        else {
            throw APIError.validation(errors)
        }
        let saved = try store.saveAnswers(
            try context.db(), assessment: assessment, inputs: [(key, input)], principal: principal,
            actor: Actor(principal, request, context), ifMatch: request.header("if-match"))
        return .json(200, saved.answers[0].json, headers: [("ETag", saved.etag)])
    }

    func patchAnswers(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let body = try JSONBody.object(request)
        let (assessment, questions) = try answerable(context, id, principal)
        let r = FieldReader(body)
        r.rejectUnknown(["answers"])
        guard case .object(let entries)? = r.raw("answers") else {
            r.fail("answers", "is required: an object of question key to {value, comment, evidence_ids}")
            try r.throwIfInvalid()
            throw APIError.internal()
        }
        if entries.isEmpty { r.fail("answers", "must not be empty") }
        if entries.count > 500 { r.fail("answers", "must have at most 500 answers") }
        var errors: [FieldError] = []
        var inputs: [(String, AnswerInput)] = []
        for (key, json) in entries {
            guard let question = questions[key] else {
                errors.append(FieldError("answers.\(key)", "is not a question of this questionnaire"))
                continue
            }
            if let input = AnswerRules.read(json, question: question, path: "answers.\(key)", into: &errors) {
                inputs.append((key, input))
            }
        }
        r.absorb(errors)
        try r.throwIfInvalid()
        let saved = try store.saveAnswers(
            try context.db(), assessment: assessment, inputs: inputs, principal: principal,
            actor: Actor(principal, request, context), ifMatch: request.header("if-match"))
        return .json(
            200, .object([("items", .array(saved.answers.map(\.json))), ("next_cursor", .null)]),
            headers: [("ETag", saved.etag)])
    }

    func submit(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        if !request.body.isEmpty { _ = try JSONBody.object(request) }
        let db = try context.db()
        let scope = VendorScope(principal)
        let updated = try store.transition(
            db, id: id, scope: scope, .submit, actor: Actor(principal, request, context),
            check: { _ in
                let missing = try AssessmentScoringData.load(db, id: id, scope: scope).missingRequired
                if !missing.isEmpty {
                    throw APIError.validation(
                        missing.map { FieldError("answers.\($0)", "is required") },
                        detail:
                            "\(missing.count) required question(s) are not answered: \(missing.prefix(20).joined(separator: ", "))."
                    )
                }
            })
        return .json(200, updated.json(), headers: [("ETag", updated.etag)])
    }

    func review(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let r = FieldReader(try JSONBody.object(request))
        r.rejectUnknown(["decision", "comment", "question_comments"])
        enum Decision: String, CaseIterable { case approve, `return` }
        let decision = r.enumeration("decision", Decision.self)
        if !decision.isPresent { r.fail("decision", "is required: approve or return") }
        let comment = r.string("comment", nullable: true, length: 0...10_000, multiline: true).value
        var questionComments: [(String, JSON)] = []
        let db = try context.db()
        let scope = VendorScope(principal)
        if let raw = r.raw("question_comments"), raw != .null {
            guard case .object(let pairs) = raw else {
                r.fail("question_comments", "must be an object of question key to comment")
                try r.throwIfInvalid()
                throw APIError.internal()
            }
            let (_, questions) = try answerable(context, id, principal)
            for (key, value) in pairs {
                if questions[key] == nil {
                    r.fail("question_comments.\(key)", "is not a question of this questionnaire")
                } else if case .string(let text) = value, !text.isEmpty, text.count <= 5000,
                    Validate.hasOnlyTextCharacters(text, multiline: true)
                {
                    questionComments.append((key, .string(text)))
                } else {
                    r.fail(
                        "question_comments.\(key)",
                        "must be text of 1 to 5000 characters, without control characters but line breaks and tabs")
                }
            }
        }
        try r.throwIfInvalid()
        let move: AssessmentTransition = decision.value == .approve ? .approve : .return
        let day = today
        let updated = try store.transition(
            db, id: id, scope: scope, move, actor: Actor(principal, request, context), comment: comment,
            questionComments: .object(questionComments),
            snapshot: move == .approve
                ? { _ in try AssessmentScoringData.load(db, id: id, scope: scope).card(on: day) } : nil)
        return .json(200, updated.json(), headers: [("ETag", updated.etag)])
    }

    func cancel(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        var comment: String?
        if !request.body.isEmpty {
            let r = FieldReader(try JSONBody.object(request))
            r.rejectUnknown(["comment"])
            comment = r.string("comment", nullable: true, length: 0...10_000, multiline: true).value
            try r.throwIfInvalid()
        }
        let updated = try store.transition(
            try context.db(), id: id, scope: VendorScope(principal), .cancel, actor: Actor(principal, request, context),
            comment: comment)
        return .json(200, updated.json(), headers: [("ETag", updated.etag)])
    }

    func score(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let q = QueryReader(request)
        q.rejectUnknown(["as_of"])
        var day = today
        if let d = request.queryValue("as_of") {
            if principal.role == .vendor {
                q.fail("as_of", "is for staff only")
            } else if let date = CalendarDate(d) {
                day = date
            } else {
                q.fail("as_of", "must be a date written YYYY-MM-DD")
            }
        }
        try q.throwIfInvalid()
        let data = try AssessmentScoringData.load(try context.db(), id: id, scope: VendorScope(principal))
        if principal.role == .vendor && data.assessment.status != .approved {
            throw APIError.forbidden("The score is shown to the vendor once the assessment is approved.")
        }
        guard case .object(var pairs) = data.card(on: day).json else { throw APIError.internal() }
        pairs.insert(("assessment_id", .uuid(id)), at: 0)
        pairs.insert(("as_of", .string(day.description)), at: 1)
        return .json(200, .object(pairs))
    }
}
