import Foundation
import HTTPServer
import Postgres

/// Wires the stores, routes and middleware into one server.
public final class App: Sendable {
    public let config: Config
    public let logger: Logger
    public let pool: Pool
    public let metrics = Metrics()
    public let router: Router
    public let migrator: Migrator
    let perToken: RateLimiter
    let authFailures: RateLimiter
    let principals = PrincipalCache()
    let now: @Sendable () -> Date

    public init(config: Config, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.config = config
        self.now = now
        logger = Logger(level: config.logLevel)
        perToken = RateLimiter(ratePerSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst)
        authFailures = RateLimiter(ratePerSecond: config.authFailuresPerMinute / 60, burst: config.authFailureBurst)
        let role = config.databaseRole
        pool = Pool(
            ConnectionConfiguration(url: config.serviceDatabaseURL ?? config.databaseURL),
            size: config.databasePoolSize,
            acquireTimeout: config.databaseWaitSeconds
        ) { connection in
            // The role name was checked against ^[a-z_][a-z0-9_]*$ when the configuration was read.
            if !role.isEmpty { try connection.run(script: "SET ROLE \(role)") }
        }
        migrator = try Migrator(directory: config.home + "/schema")
        let openAPI =
            FileManager.default.contents(atPath: config.home + "/openapi/openapi.yaml").map { Array($0) } ?? []
        var router = Router()
        OperationsRoutes(pool: pool, metrics: metrics, migrator: migrator, openAPI: openAPI).register(&router)
        VendorRoutes().register(&router)
        IdentityRoutes(now: now).register(&router)
        AuditRoutes().register(&router)
        CatalogRoutes().register(&router)
        QuestionnaireRoutes().register(&router)
        AssessmentRoutes(now: now).register(&router)
        self.router = router
    }

    /// The request pipeline, outermost first.
    public var handler: Handler {
        let metrics = self.metrics
        let now = self.now
        return router.handler(middleware: [
            Middlewares.requestID,
            Middlewares.accessLog(logger) { method, route, status, seconds in
                metrics.observe(method: method, route: route, status: status, seconds: seconds)
            },
            Middlewares.errorRendering(logger, translate: App.translate),
            Middlewares.bodyLimit,
            Middlewares.database(pool),
            Middlewares.authentication(
                tokens: TokenStore(), cache: principals, perToken: perToken, failures: authFailures, now: now),
            Idempotency.middleware,
            Middlewares.requestTransaction(now: now),
        ])
    }

    public func serve() throws -> Server {
        let server = try Server(
            ServerConfiguration(
                host: config.listenHost, port: config.listenPort, threads: config.threads,
                connectionLimit: config.connectionLimit, connectionTimeoutSeconds: config.connectionTimeoutSeconds,
                maxBodyBytes: config.maxBodyBytes, minBodyBytesPerSecond: config.minBodyBytesPerSecond),
            logger: logger, handler: handler)
        logger.info(
            "listening",
            [
                ("address", .string("\(config.listenHost):\(server.port)")), ("threads", .int(config.threads)),
                ("db_pool", .int(config.databasePoolSize)), ("libmicrohttpd", .string(Server.libraryVersion)),
            ])
        return server
    }

    /// Database errors as clients should see them. Unknown ones stay unknown (a logged 500).
    static func translate(_ error: Error) -> APIError? {
        guard let pg = error as? PostgresError else { return nil }
        switch pg {
        case .connectionFailure, .poolClosed:
            return .unavailable("The database is unreachable; try again shortly.", retryAfter: 2)
        case .poolTimeout:
            return .unavailable("The server is busy; try again shortly.", retryAfter: 1)
        case .uniqueViolation(let constraint, _):
            switch constraint {
            case "vendors_name_key": return .conflict("A vendor with this name already exists.")
            case "users_email_key": return .conflict("A user with this email already exists.")
            default: return .conflict("This would duplicate an existing record.")
            }
        case .foreignKeyViolation(let constraint, _):
            switch constraint {
            case "vendors_owner_user_id_fkey": return .validation([FieldError("owner_user_id", "is not a known user")])
            case "users_vendor_id_fkey": return .validation([FieldError("vendor_id", "is not a known vendor")])
            default: return .conflict("This refers to a record that does not exist, or is still referred to.")
            }
        case .checkViolation:
            // A value the schema's own CHECK refuses that slipped past validation: still the client's to fix.
            return .validation([], detail: "A value is outside what can be stored.")
        case .serializationFailure:
            return .conflict("A concurrent change got in the way; retry the request.")
        case .server(let sqlstate, _) where sqlstate == "22P05" || sqlstate == "22021":
            // Text the database cannot store (U+0000) that slipped past validation: the client's to fix.
            return .validation([], detail: "A text value holds a character that cannot be stored (U+0000).")
        default:
            return nil
        }
    }
}
