import Foundation
import HTTPServer
import Postgres

/// `/v1/questionnaires`: templates as drafts, published versions, new versions from published ones.
/// Vendor users read published versions only, without anything that says how answers are scored.
struct QuestionnaireRoutes {
    let store = QuestionnaireStore()
    let frameworks = FrameworkStore()

    func register(_ router: inout Router) {
        router.add("GET", "/v1/questionnaires") { request, context in try list(request, context) }
        router.add("POST", "/v1/questionnaires") { request, context in try create(request, context) }
        router.add("GET", "/v1/questionnaires/{id}") { request, context in try get(request, context) }
        router.add("PATCH", "/v1/questionnaires/{id}") { request, context in try update(request, context) }
        router.add("POST", "/v1/questionnaires/{id}/publish") { request, context in try publish(request, context) }
        router.add("POST", "/v1/questionnaires/{id}/versions") { request, context in try newVersion(request, context) }
    }

    func refs(_ db: Connection, _ frameworkID: UUID?) throws -> Set<String> {
        guard let frameworkID else { return [] }
        guard try frameworks.summary(db, id: frameworkID) != nil else {
            throw APIError.validation([FieldError("framework_id", "is not a known framework")])
        }
        return try frameworks.refs(db, frameworkID: frameworkID)
    }

    func list(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor", "status", "framework_id", "family_id"])
        var status = q.enumeration("status", QuestionnaireStatus.self)
        let frameworkID = q.uuid("framework_id")
        let familyID = q.uuid("family_id")
        let limit = q.limit()
        let cursor = q.cursor()
        try q.throwIfInvalid()
        let vendor = principal.role == .vendor
        if vendor {
            if status == .draft {
                return .json(200, Page<Questionnaire>(items: [], nextCursor: nil).json { _ in .null })
            }
            status = .published
        }
        let page = try store.list(
            try context.db(), status: status, frameworkID: frameworkID, familyID: familyID, limit: limit, after: cursor)
        return .json(200, page.json { $0.json(forVendor: vendor, includeSections: false) })
    }

    func create(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let body = try JSONBody.object(request)
        let db = try context.db()
        let content = try QuestionnaireInput.create(body, refs: try refs(db, try QuestionnaireInput.frameworkID(body)))
        let q = try store.createDraft(db, content, actor: Actor(principal, request, context))
        return .json(
            201, q.json(forVendor: false),
            headers: [("Location", "/v1/questionnaires/\(q.id.uuidString.lowercased())"), ("ETag", q.etag)])
    }

    func get(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        guard let q = try store.get(try context.db(), id: try request.uuidParameter()) else {
            throw APIError.notFound()
        }
        let vendor = principal.role == .vendor
        if vendor && q.status != .published { throw APIError.notFound() }
        return .json(200, q.json(forVendor: vendor), headers: [("ETag", q.etag)])
    }

    func update(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let body = try JSONBody.object(request, extraMediaTypes: ["application/merge-patch+json"])
        let db = try context.db()
        let q = try store.updateDraft(
            db, id: id, ifMatch: request.header("if-match"), actor: Actor(principal, request, context)
        ) { current in
            let framework = try QuestionnaireInput.frameworkID(body) ?? current.frameworkID
            return try QuestionnaireInput.patch(body, onto: current, refs: try refs(db, framework))
        }
        return .json(200, q.json(forVendor: false), headers: [("ETag", q.etag)])
    }

    func publish(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let q = try store.publish(
            try context.db(), id: try request.uuidParameter(), actor: Actor(principal, request, context))
        return .json(200, q.json(forVendor: false), headers: [("ETag", q.etag)])
    }

    /// A new draft (version + 1) with the content of this version, to change what was published.
    func newVersion(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let db = try context.db()
        guard let source = try store.get(db, id: try request.uuidParameter()) else { throw APIError.notFound() }
        let q: Questionnaire
        do {
            q = try store.createDraft(
                db, source.content, familyID: source.familyID, actor: Actor(principal, request, context))
        } catch PostgresError.uniqueViolation(let constraint, _) where constraint == "questionnaires_one_draft" {
            throw APIError.conflict("This questionnaire already has an open draft; change or publish that one.")
        }
        return .json(
            201, q.json(forVendor: false),
            headers: [("Location", "/v1/questionnaires/\(q.id.uuidString.lowercased())"), ("ETag", q.etag)])
    }
}
