import Foundation
import HTTPServer
import Postgres
import Testing

@testable import Bulwark

/// A read (GET) runs read-only, with or without a cached principal: a handler that tried to write from a GET
/// would fail and change nothing, rather than commit on its own in a pipeline without BEGIN. The same
/// write from a POST goes through. The chain is the server's own request-transaction middleware.
@Suite struct ReadOnlyReadsTests {
    @Test(arguments: [false, true])
    func aWriteFromAGetIsRefusedAndAPostsIsNot(cachedPrincipal: Bool) throws {
        let db = try Harness.connection()
        let user: UUID = try db.query(
            "INSERT INTO users (email, name, role) VALUES (\("ro-\(UUID().uuidString.prefix(8))@example.test"), 'RO', 'admin') RETURNING id"
        ).first!.decode("id")
        let token: UUID = try db.query(
            """
            INSERT INTO api_tokens (user_id, name, prefix, hash) \
            VALUES (\(user), 'ro', \(String(UUID().uuidString.prefix(12))), \(ByteA([UInt8](repeating: 7, count: 32)))) RETURNING id
            """
        ).first!.decode("id")
        let principal = Principal(userID: user, role: .admin, vendorID: nil, tokenID: token)
        let name = Harness.uniqueName("ReadOnly")
        let config = Harness.config()
        let pool = Pool(
            ConnectionConfiguration(url: config.serviceDatabaseURL ?? config.databaseURL), size: 2
        ) { c in if !config.databaseRole.isEmpty { try c.run(script: "SET ROLE \(config.databaseRole)") } }
        defer { pool.close() }
        var router = Router()
        let write: Handler = { _, context in
            try context.db().execute("INSERT INTO vendors (name, tier) VALUES (\(name), 'low')")
            return .json(200, Array(#"{"ok":true}"#.utf8))
        }
        router.add("GET", "/probe", write)
        router.add("POST", "/probe", write)
        let signIn: Middleware = { request, context, next in
            context[PrincipalKey.self] = principal
            context[CachedPrincipalKey.self] = cachedPrincipal
            return try next(request, context)
        }
        let handler = router.handler(middleware: [
            Middlewares.errorRendering(Logger(level: .error), translate: App.translate),
            Middlewares.database(pool), signIn, Middlewares.requestTransaction(now: { Date() }),
        ])
        let server = try Server(
            ServerConfiguration(port: 0, threads: 2), logger: Logger(level: .error), handler: handler)
        defer { server.shutdown(drainSeconds: 1) }
        let client = Client(port: server.port, token: nil)
        func count() throws -> Int {
            try db.query("SELECT count(*)::int8 AS n FROM vendors WHERE name = \(name)").first!.decode("n")
        }
        let read = try client.get("/probe")
        #expect(read.status >= 500, "\(read.status) \(read.text)")
        #expect(try count() == 0, "the GET wrote nothing")
        let posted = try client.request("POST", "/probe", json: [String: Any]())
        #expect(posted.status == 200, "\(posted.text)")
        #expect(try count() == 1)
    }
}
