import Bulwark
import Foundation
import HTTPServer
import Postgres
import Synchronization

/// The test database (migrated once per process) and servers started on ephemeral ports.
enum Harness {
    static let databaseURL: String = {
        let env = ProcessInfo.processInfo.environment
        return env["BULWARK_TEST_DATABASE_URL"] ?? env["DATABASE_URL"]
            ?? "postgresql://postgres@127.0.0.1:5432/bulwark_test"
    }()

    static let home: String = {
        if let h = ProcessInfo.processInfo.environment["BULWARK_HOME"] { return h }
        // Tests/BulwarkTests/Harness.swift → the package root
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    private static let migrated = Mutex(false)

    /// A connection to the migrated test database.
    static func connection() throws -> Connection {
        let c = try Connection(ConnectionConfiguration(url: databaseURL))
        try migrated.withLock { done in
            if !done {
                try Migrator(directory: home + "/schema").migrate(c)
                _ = try Seed.catalog(c, home: home)
                done = true
            }
        }
        return c
    }

    static func config(_ adjust: (inout Config) -> Void = { _ in }) -> Config {
        var c = Config(
            databaseURL: databaseURL, listenPort: 0, threads: 8, databasePoolSize: 8, logLevel: .warn, home: home)
        // Tests share one address and a few tokens; the rate-limit test sets its own limits.
        // The service's own login role when the test script names one (else the owner and SET ROLE).
        if let service = ProcessInfo.processInfo.environment["BULWARK_TEST_SERVICE_DATABASE_URL"], !service.isEmpty {
            c.serviceDatabaseURL = service
            c.databaseRole = ""
        }
        c.rateLimitPerSecond = 1_000_000
        c.rateLimitBurst = 1_000_000
        c.authFailuresPerMinute = 1_000_000
        c.authFailureBurst = 1_000_000
        adjust(&c)
        return c
    }

    /// A running server. Kept alive by the returned object; stopped when it goes away.
    final class Running: @unchecked Sendable {
        let app: App
        let server: Server
        var port: Int { server.port }
        init(app: App, server: Server) {
            self.app = app
            self.server = server
        }
        deinit {
            server.shutdown(drainSeconds: 1)
            app.pool.close()
        }
    }

    static func start(_ adjust: (inout Config) -> Void = { _ in }) throws -> Running {
        _ = try connection()
        let app = try App(config: config(adjust))
        return Running(app: app, server: try app.serve())
    }

    private static let sharedServer = Mutex<Running?>(nil)

    /// One server shared by the tests that need nothing special (started on first use).
    static var shared: Running {
        get throws {
            try sharedServer.withLock { running in
                if let running { return running }
                let started = try start()
                running = started
                return started
            }
        }
    }

    /// A user with a fresh token; returns a client that sends it.
    static func client(role: Role, vendorID: UUID? = nil, on server: Running? = nil) throws -> Client {
        let running = try server ?? shared
        let db = try connection()
        let unique = UUID().uuidString.lowercased()
        let user = try UserStore().findOrCreate(
            db, email: "\(role.rawValue)-\(unique)@test.invalid", name: "Test \(role.rawValue)", role: role,
            vendorID: vendorID)
        let (_, secret) = try TokenStore().create(db, userID: user, name: "test", expiresAt: nil)
        return Client(port: running.port, token: secret.text)
    }

    static func anonymous(on server: Running? = nil) throws -> Client {
        Client(port: try (server ?? shared).port, token: nil)
    }

    static func uniqueName(_ base: String = "Vendor") -> String { "\(base) \(UUID().uuidString.prefix(13))" }
}
