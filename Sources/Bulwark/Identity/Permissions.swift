import Foundation
import HTTPServer

/// Which roles may call which route: the one permission table. A `/v1` route missing from it is refused
/// to everyone (a test checks that every route is listed). Vendor users are further limited to their own
/// vendor by `VendorScope` in the stores.
public enum Permissions {
    static let everyone: Set<Role> = Set(Role.allCases)
    static let staffReaders: Set<Role> = [.admin, .procurement, .riskAnalyst, .auditor]
    static let vendorManagers: Set<Role> = [.admin, .procurement]

    public static let table: [String: Set<Role>] = [
        "GET /v1/vendors": everyone,
        "POST /v1/vendors": vendorManagers,
        "GET /v1/vendors/{id}": everyone,
        "PATCH /v1/vendors/{id}": vendorManagers,
        "DELETE /v1/vendors/{id}": vendorManagers,
    ]

    public static func allows(_ role: Role, method: String, route: String) -> Bool {
        let m = method == "HEAD" ? "GET" : method
        return table["\(m) \(route)"]?.contains(role) ?? false
    }
}

extension Middlewares {
    /// Bearer-token authentication and the role check for every `/v1` route. Operations routes are open.
    static func authentication(tokens: TokenStore, now: @escaping @Sendable () -> Date) -> Middleware {
        { request, context, next in
            guard let route = context.route, route.hasPrefix("/v1/") else { return try next(request, context) }
            guard let header = request.header("authorization") else { throw APIError.unauthorized() }
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw APIError.unauthorized("Use the Authorization: Bearer <token> scheme.")
            }
            let secret = TokenSecret(text: String(parts[1]).trimmingCharacters(in: .whitespaces))
            guard let principal = try tokens.authenticate(try context.db(), secret: secret, now: now()) else {
                throw APIError.unauthorized("The token is unknown, expired or revoked.")
            }
            context[PrincipalKey.self] = principal
            // An unknown method on a known path is a 405 for everyone, authenticated first so it leaks nothing.
            if context.hasMatchedRoute,
                !Permissions.allows(principal.role, method: request.method, route: route)
            {
                throw APIError.forbidden("The \(principal.role.rawValue) role may not \(request.method) \(route).")
            }
            return try next(request, context)
        }
    }
}
