import Foundation
import HTTPServer
import Postgres

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`: open to anyone, no token.
struct OperationsRoutes {
    let pool: Pool
    let metrics: Metrics
    let migrator: Migrator
    let openAPI: [UInt8]

    static let healthBody = Array(#"{"status":"ok"}"#.utf8)

    func register(_ router: inout Router) {
        router.add("GET", "/healthz") { _, _ in .json(200, OperationsRoutes.healthBody) }
        router.add("GET", "/readyz") { _, context in try ready(context) }
        router.add("GET", "/metrics") { _, _ in
            .text(200, metrics.render(pool: pool.statistics), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.add("GET", "/openapi.yaml") { _, _ in
            Response(status: 200, contentType: "application/yaml", bytes: openAPI)
        }
    }

    func ready(_ context: Context) throws -> Response {
        let status: MigrationStatus
        do {
            status = try migrator.status(try context.db())
        } catch let error as PostgresError where error.isUnavailable {
            throw APIError.unavailable("The database is unreachable.", retryAfter: 2)
        } catch is PostgresError {
            // Reachable but refusing this service's sessions (a missing role, say): not ready either.
            throw APIError.unavailable("The database refuses this service's connections; see the log.", retryAfter: 5)
        }
        guard status.isCurrent else {
            throw APIError.unavailable(
                "Migrations are not current: \(status.pending.count) pending, \(status.changed.count) changed.",
                retryAfter: 5)
        }
        return .json(200, Array(#"{"status":"ready","database":"ok","migrations":"current"}"#.utf8))
    }
}
