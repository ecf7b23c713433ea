import Foundation
import HTTPServer
import Postgres

/// `/v1/frameworks`: requirement catalogs.
struct CatalogRoutes {
    let store = FrameworkStore()

    func register(_ router: inout Router) {
        router.add("GET", "/v1/frameworks") { request, context in try list(request, context) }
        router.add("POST", "/v1/frameworks") { request, context in try importCatalog(request, context) }
        router.add("GET", "/v1/frameworks/{id}") { request, context in try get(request, context) }
        router.add("GET", "/v1/frameworks/{id}/requirements") { request, context in try requirements(request, context) }
    }

    func list(_ request: Request, _ context: Context) throws -> Response {
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor", "key"])
        let key = q.string("key", maxLength: 64)
        let limit = q.limit()
        let cursor = q.cursor()
        try q.throwIfInvalid()
        return .json(200, try store.list(try context.db(), key: key, limit: limit, after: cursor).json(\.json))
    }

    func importCatalog(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let doc = try FrameworkInput.read(try JSONBody.object(request))
        let db = try context.db()
        let id: UUID
        do {
            id = try store.importCatalog(db, doc, actor: Actor(principal, request, context))
        } catch PostgresError.uniqueViolation(let constraint, _) where constraint == "frameworks_key_version_key" {
            throw APIError.conflict("Framework \(doc.key) version \(doc.version) already exists; import a new version.")
        }
        guard let summary = try store.summary(db, id: id) else { throw APIError.internal() }
        return .json(201, summary.json, headers: [("Location", "/v1/frameworks/\(id.uuidString.lowercased())")])
    }

    func get(_ request: Request, _ context: Context) throws -> Response {
        let id = try request.uuidParameter()
        let q = QueryReader(request)
        q.rejectUnknown(["format"])
        let export = request.queryValue("format")
        if let export, export != "export" { q.fail("format", "must be export (or absent)") }
        try q.throwIfInvalid()
        let db = try context.db()
        if export != nil {
            guard let doc = try store.document(db, id: id) else { throw APIError.notFound() }
            return .json(200, doc.json)
        }
        guard let summary = try store.summary(db, id: id) else { throw APIError.notFound() }
        return .json(200, summary.json)
    }

    func requirements(_ request: Request, _ context: Context) throws -> Response {
        let id = try request.uuidParameter()
        let q = QueryReader(request)
        q.rejectUnknown(["principle", "severity"])
        let principle = q.enumeration("principle", Principle.self)
        let severity = q.enumeration("severity", Severity.self)
        try q.throwIfInvalid()
        let db = try context.db()
        guard try store.summary(db, id: id) != nil else { throw APIError.notFound() }
        let list = try store.requirements(db, frameworkID: id, principle: principle, severity: severity)
        return .json(200, .object([("items", .array(list.map(\.json))), ("next_cursor", .null)]))
    }
}
