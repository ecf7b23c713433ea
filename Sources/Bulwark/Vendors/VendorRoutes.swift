import Foundation
import HTTPServer
import Postgres

/// `/v1/vendors`: create, list, read, update (merge patch), soft delete.
struct VendorRoutes {
    let store = VendorStore()

    func register(_ router: inout Router) {
        router.add("GET", "/v1/vendors") { request, context in try list(request, context) }
        router.add("POST", "/v1/vendors") { request, context in try create(request, context) }
        router.add("GET", "/v1/vendors/{id}") { request, context in try get(request, context) }
        router.add("PATCH", "/v1/vendors/{id}") { request, context in try update(request, context) }
        router.add("DELETE", "/v1/vendors/{id}") { request, context in try delete(request, context) }
    }

    func list(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor", "tier", "status", "q", "tag", "include_deleted", "sort", "certification"])
        var filter = VendorFilter()
        filter.tier = q.enumeration("tier", Tier.self)
        filter.status = q.enumeration("status", VendorStatus.self)
        filter.nameContains = q.string("q")
        filter.tag = q.string("tag", maxLength: 64)
        filter.includeDeleted = q.bool("include_deleted") ?? false
        filter.sort = q.enumeration("sort", VendorSort.self) ?? .created
        if let c = request.queryValue("certification") {
            if ["certified", "conditional", "not_certified"].contains(c) {
                filter.certification = c
            } else {
                q.fail("certification", "must be one of: certified, conditional, not_certified")
            }
        }
        let limit = q.limit()
        var cursor: VendorCursor?
        if let raw = request.queryValue("cursor") {
            cursor = VendorCursor(encoded: raw, sort: filter.sort)
            if cursor == nil { q.fail("cursor", "is not a cursor this server issued for this sort order") }
        }
        try q.throwIfInvalid()
        let page = try store.list(
            try context.db(), scope: VendorScope(principal), filter: filter, limit: limit, after: cursor)
        return .json(200, page.json(\.json))
    }

    func create(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let fields = try VendorInput.create(try JSONBody.object(request))
        let vendor = try store.create(try context.db(), fields, actor: Actor(principal, request, context))
        return .json(
            201, vendor.json,
            headers: [("Location", "/v1/vendors/\(vendor.id.uuidString.lowercased())"), ("ETag", vendor.etag)])
    }

    func get(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        guard let vendor = try store.get(try context.db(), id: id, scope: VendorScope(principal)) else {
            throw APIError.notFound()
        }
        return .json(200, vendor.json, headers: [("ETag", vendor.etag)])
    }

    func update(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let body = try JSONBody.object(request, extraMediaTypes: ["application/merge-patch+json"])
        // Another vendor's profile is a 404 for a vendor user, whatever the body asks for.
        if principal.role == .vendor, principal.vendorID != id { throw APIError.notFound() }
        if principal.role == .vendor, let other = body.first(where: { $0.0 != "contacts" }) {
            throw APIError.forbidden("Vendor users may change their contacts only, not \(other.0).")
        }
        let vendor = try store.update(
            try context.db(), id: id, scope: VendorScope(principal), ifMatch: request.header("if-match"),
            actor: Actor(principal, request, context)
        ) { current in try VendorInput.patch(body, onto: current) }
        return .json(200, vendor.json, headers: [("ETag", vendor.etag)])
    }

    func delete(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        try store.delete(
            try context.db(), id: id, scope: VendorScope(principal), ifMatch: request.header("if-match"),
            actor: Actor(principal, request, context))
        return .noContent()
    }
}
