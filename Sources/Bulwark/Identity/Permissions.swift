import Foundation
import HTTPServer
import Postgres

/// Which roles may call which route: the one permission table. A `/v1` route missing from it is refused
/// to everyone (a test checks that every route is listed). Vendor users are further limited to their own
/// vendor by `VendorScope` in the stores and by row-level security in the database.
public enum Permissions {
    static let everyone: Set<Role> = Set(Role.allCases)
    static let staff: Set<Role> = [.admin, .procurement, .riskAnalyst, .auditor]
    static let vendorManagers: Set<Role> = [.admin, .procurement]
    static let admins: Set<Role> = [.admin]
    static let catalogOwners: Set<Role> = [.admin, .riskAnalyst]
    static let reviewers: Set<Role> = [.admin, .procurement, .riskAnalyst]
    /// Vendor users answer for their own vendor; reviewers may answer on its behalf (recorded as such).
    static let answerers: Set<Role> = reviewers.union([.vendor])

    public static let table: [String: Set<Role>] = [
        "GET /v1/me": everyone,
        "GET /v1/vendors": everyone,
        "POST /v1/vendors": vendorManagers,
        "GET /v1/vendors/{id}": everyone,
        // Vendor users may change their own vendor's contacts and nothing else (checked in the handler).
        "PATCH /v1/vendors/{id}": vendorManagers.union([.vendor]),
        "DELETE /v1/vendors/{id}": vendorManagers,
        "GET /v1/users": admins,
        "POST /v1/users": admins,
        "GET /v1/users/{id}": admins,
        "PATCH /v1/users/{id}": admins,
        "GET /v1/users/{id}/tokens": admins,
        "POST /v1/users/{id}/tokens": admins,
        "DELETE /v1/tokens/{id}": admins,
        "GET /v1/audit-events": [.admin, .auditor],
        "GET /v1/frameworks": staff,
        "POST /v1/frameworks": catalogOwners,
        "GET /v1/frameworks/{id}": staff,
        "GET /v1/frameworks/{id}/requirements": staff,
        // Vendor users read published questionnaires without their scoring (checked in the handler).
        "GET /v1/questionnaires": everyone,
        "POST /v1/questionnaires": catalogOwners,
        "GET /v1/questionnaires/{id}": everyone,
        "PATCH /v1/questionnaires/{id}": catalogOwners,
        "POST /v1/questionnaires/{id}/publish": catalogOwners,
        "POST /v1/questionnaires/{id}/versions": catalogOwners,
        "GET /v1/assessments": everyone,
        "POST /v1/assessments": reviewers,
        "GET /v1/assessments/{id}": everyone,
        "GET /v1/assessments/{id}/answers": everyone,
        "PUT /v1/assessments/{id}/answers/{question_key}": answerers,
        "PATCH /v1/assessments/{id}/answers": answerers,
        "POST /v1/assessments/{id}/submit": answerers,
        "POST /v1/assessments/{id}/review": reviewers,
        "POST /v1/assessments/{id}/cancel": reviewers,
        // Vendor users see their score once the assessment is approved (checked in the handler).
        "GET /v1/assessments/{id}/score": everyone,
    ]

    public static func allows(_ role: Role, method: String, route: String) -> Bool {
        let m = method == "HEAD" ? "GET" : method
        return table["\(m) \(route)"]?.contains(role) ?? false
    }
}

extension Middlewares {
    /// Bearer-token authentication, failed-attempt and per-token rate limits, and the role check for every
    /// `/v1` route. Operations routes are open.
    static func authentication(
        tokens: TokenStore, cache: PrincipalCache, perToken: RateLimiter, failures: RateLimiter,
        now: @escaping @Sendable () -> Date
    ) -> Middleware {
        { request, context, next in
            guard let route = context.route, route.hasPrefix("/v1/") else { return try next(request, context) }
            let client = request.remoteAddress
            // A token this process has recently seen succeed is not held back by the failures of others at the
            // same address (one NAT, one proxy): only unknown tokens wait out the address's failure limit.
            let presented = request.header("authorization").flatMap(Middlewares.bearerSecret)
            let presentedHash = presented?.hash
            let seen = presentedHash.flatMap { cache.principal(forHash: $0) }
            if seen == nil, let wait = failures.isExhausted(client) {
                throw RateLimiter.tooMany(wait, "Too many failed authentications from this address.")
            }
            func refuse(_ detail: String) -> APIError {
                if let wait = failures.take(client) {
                    return RateLimiter.tooMany(wait, "Too many failed authentications from this address.")
                }
                return APIError.unauthorized(detail)
            }
            guard request.header("authorization") != nil else {
                throw refuse("A valid bearer token is required.")
            }
            guard let secret = presented, let hash = presentedHash else {
                throw refuse("Use the Authorization: Bearer <token> scheme.")
            }
            // Reads may start from a cached principal; the request transaction re-checks the token in its
            // first round trip (`PrincipalCache.guardStatement`). Writes always look the token up first.
            let isRead = request.method == "GET" || request.method == "HEAD"
            var cached = isRead ? seen : nil
            while true {
                let principal: Principal
                if let hit = cached {
                    principal = hit
                } else {
                    guard let found = try tokens.authenticate(try context.db(), secret: secret, now: now()) else {
                        cache.forget(hash: hash)
                        throw refuse("The token is unknown, expired or revoked.")
                    }
                    principal = found
                    if isRead { cache.store(found, forHash: hash) }
                }
                if let wait = perToken.take(principal.rateKey) {
                    throw RateLimiter.tooMany(wait, "This token has made too many requests; slow down.")
                }
                context[PrincipalKey.self] = principal
                context[CachedPrincipalKey.self] = cached != nil
                // An unknown method on a known path is a 405 for everyone, authenticated first so it leaks nothing.
                if context.hasMatchedRoute, !Permissions.allows(principal.role, method: request.method, route: route) {
                    // A cached role may be stale: decide on a fresh lookup.
                    if cached != nil {
                        cache.forget(hash: hash)
                        cached = nil
                        continue
                    }
                    throw APIError.forbidden("The \(principal.role.rawValue) role may not \(request.method) \(route).")
                }
                do {
                    return try next(request, context)
                } catch PostgresError.setupRefused where cached != nil {
                    // The token changed since it was cached (revoked, expired, user deactivated or changed);
                    // the request's transaction was rolled back. Decide again on a fresh lookup.
                    cache.forget(hash: hash)
                    cached = nil
                }
            }
        }
    }

    /// The token of an `Authorization: Bearer <token>` header; nil for any other scheme.
    /// Byte-wise: this runs on every request, where Foundation's trimming would bridge to NSString.
    static func bearerSecret(_ header: String) -> TokenSecret? {
        let bytes = header.utf8
        guard bytes.count > 7, bytes.prefix(6).elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 }),
            bytes.dropFirst(6).first == UInt8(ascii: " ")
        else { return nil }
        var token = bytes.dropFirst(7)
        while let c = token.first, c == 0x20 || c == 0x09 { token = token.dropFirst() }
        while let c = token.last, c == 0x20 || c == 0x09 { token = token.dropLast() }
        guard !token.isEmpty, let text = String(token) else { return nil }
        return TokenSecret(text: text)
    }

    /// Runs an authenticated request in one transaction whose scope (`SET LOCAL`) row-level security reads:
    /// staff see all vendors, a vendor user only its own. Commits when the handler returns, rolls back when
    /// it throws. BEGIN and the scope go out with the request's first query, in one round trip; for a
    /// principal taken from the cache, the scope is set by the statement that re-checks its token.
    static func requestTransaction(now: @escaping @Sendable () -> Date, attempts: Int = 3) -> Middleware {
        { request, context, next in
            guard let principal = context[PrincipalKey.self] else { return try next(request, context) }
            let db = try context.db()
            // A read needs no BEGIN or COMMIT: its scope goes out in front of each of its queries instead.
            let isRead = request.method == "GET" || request.method == "HEAD"
            // And it can write nothing: a read-only transaction refuses any write a GET handler might attempt,
            // which in a pipeline without BEGIN would otherwise commit on its own. The setting rides in the
            // scope statement (and in the cached principal's guard, which sets it whatever it finds).
            let readOnly: SQL = isRead ? "set_config('transaction_read_only', 'on', true), " : ""
            var attempt = 1
            while true {
                if context[CachedPrincipalKey.self] == true {
                    try db.beginLazily(
                        [], guardedBy: PrincipalCache.guardStatement(principal, now: now(), readOnly: isRead),
                        implicit: isRead)
                } else {
                    switch VendorScope(principal) {
                    case .all:
                        try db.beginLazily(
                            ["SELECT \(readOnly)set_config('bulwark.scope', 'all', true)"], implicit: isRead)
                    case .vendor(let id):
                        try db.beginLazily(
                            [
                                """
                                SELECT \(readOnly)set_config('bulwark.scope', 'vendor', true), \
                                set_config('bulwark.vendor_id', \(id.uuidString.lowercased()), true)
                                """
                            ], implicit: isRead)
                    }
                }
                let response: Response
                do {
                    response = try next(request, context)
                    if let beforeCommit = context[BeforeCommitKey.self] { try beforeCommit(response) }
                } catch {
                    db.rollback()
                    // A transaction that lost a race (serialization failure, deadlock) changed nothing: the
                    // whole request runs again, a bounded number of times, before the client hears of it.
                    if case PostgresError.serializationFailure = error, attempt < attempts {
                        attempt += 1
                        usleep(UInt32.random(in: 1_000...(5_000 * UInt32(attempt))))
                        continue
                    }
                    throw error
                }
                // Nothing to lose in a read: a COMMIT (if it turned into a real transaction) is not waited for.
                try db.commit(waiting: !isRead)
                return response
            }
        }
    }
}
