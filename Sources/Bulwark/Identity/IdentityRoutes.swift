import Foundation
import HTTPServer
import Postgres

/// `/v1/me`, `/v1/users`, `/v1/users/{id}/tokens`, `/v1/tokens/{id}`.
struct IdentityRoutes {
    let users = UserStore()
    let tokens = TokenStore()
    let now: @Sendable () -> Date

    func register(_ router: inout Router) {
        router.add("GET", "/v1/me") { request, context in try me(request, context) }
        router.add("GET", "/v1/users") { request, context in try listUsers(request, context) }
        router.add("POST", "/v1/users") { request, context in try createUser(request, context) }
        router.add("GET", "/v1/users/{id}") { request, context in try getUser(request, context) }
        router.add("PATCH", "/v1/users/{id}") { request, context in try updateUser(request, context) }
        router.add("GET", "/v1/users/{id}/tokens") { request, context in try listTokens(request, context) }
        router.add("POST", "/v1/users/{id}/tokens") { request, context in try createToken(request, context) }
        router.add("DELETE", "/v1/tokens/{id}") { request, context in try revokeToken(request, context) }
    }

    func me(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let db = try context.db()
        guard let user = try users.get(db, id: principal.userID), let token = try tokens.get(db, id: principal.tokenID)
        else { throw APIError.unauthorized() }
        guard case .object(var pairs) = user.json else { throw APIError.internal() }
        pairs.append(
            (
                "token",
                .object([
                    ("id", .uuid(token.id)), ("name", .string(token.name)),
                    ("prefix", .string(TokenSecret.marker + token.prefix)), ("expires_at", .time(token.expiresAt)),
                ])
            ))
        return .json(200, .object(pairs))
    }

    func listUsers(_ request: Request, _ context: Context) throws -> Response {
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor", "role", "vendor_id", "active"])
        let role = q.enumeration("role", Role.self)
        let vendorID = q.uuid("vendor_id")
        let active = q.bool("active")
        let limit = q.limit()
        let cursor = q.cursor()
        try q.throwIfInvalid()
        let page = try users.list(
            try context.db(), role: role, vendorID: vendorID, active: active, limit: limit, after: cursor)
        return .json(200, page.json(\.json))
    }

    func createUser(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let fields = try UserInput.create(try JSONBody.object(request))
        let user = try users.create(try context.db(), fields, actor: Actor(principal, request, context))
        return .json(201, user.json, headers: [("Location", "/v1/users/\(user.id.uuidString.lowercased())")])
    }

    func getUser(_ request: Request, _ context: Context) throws -> Response {
        guard let user = try users.get(try context.db(), id: try request.uuidParameter()) else {
            throw APIError.notFound()
        }
        return .json(200, user.json)
    }

    func updateUser(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let body = try JSONBody.object(request, extraMediaTypes: ["application/merge-patch+json"])
        let user = try users.update(try context.db(), id: id, actor: Actor(principal, request, context)) { current in
            let changed = try UserInput.patch(body, onto: current)
            // An admin cannot lock themselves out: another admin must demote or deactivate them.
            if id == principal.userID && (changed.role != current.role || !changed.active) {
                throw APIError.conflict("You cannot change your own role or deactivate yourself; ask another admin.")
            }
            return changed
        }
        return .json(200, user.json)
    }

    func listTokens(_ request: Request, _ context: Context) throws -> Response {
        let id = try request.uuidParameter()
        let q = QueryReader(request)
        q.rejectUnknown(["limit", "cursor"])
        let limit = q.limit()
        let cursor = q.cursor()
        try q.throwIfInvalid()
        let db = try context.db()
        guard try users.get(db, id: id) != nil else { throw APIError.notFound() }
        return .json(200, try tokens.list(db, userID: id, limit: limit, after: cursor).json(\.json))
    }

    func createToken(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let (name, expires) = try UserInput.token(try JSONBody.object(request), now: now())
        let db = try context.db()
        return try db.transaction { tx in
            guard let user = try users.get(tx, id: id, forUpdate: true) else { throw APIError.notFound() }
            guard user.active else { throw APIError.conflict("The user is deactivated; reactivate it first.") }
            let (tokenID, secret) = try tokens.create(tx, userID: id, name: name, expiresAt: expires)
            try AuditLog.record(
                tx, Actor(principal, request, context), action: "token.created", resourceType: "api_token",
                resourceID: tokenID.uuidString.lowercased(),
                changes: .object([("user_id", .uuid(id)), ("name", .string(name)), ("expires_at", .time(expires))]))
            guard let token = try tokens.get(tx, id: tokenID), case .object(var pairs) = token.json else {
                throw APIError.internal()
            }
            // The secret is shown here, once; only its hash is stored.
            pairs.append(("token", .string(secret.text)))
            return .json(201, .object(pairs), headers: [("Cache-Control", "no-store")])
        }
    }

    func revokeToken(_ request: Request, _ context: Context) throws -> Response {
        let principal = try context.principal()
        let id = try request.uuidParameter()
        let db = try context.db()
        guard try tokens.get(db, id: id) != nil else { throw APIError.notFound() }
        guard try tokens.revoke(db, id: id, actor: Actor(principal, request, context)) else {
            throw APIError.conflict("The token is already revoked.")
        }
        return .noContent()
    }
}

extension Page {
    func json(_ item: (T) -> JSON) -> JSON {
        .object([("items", .array(items.map(item))), ("next_cursor", .string(nextCursor))])
    }
}
