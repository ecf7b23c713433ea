import Bulwark
import Foundation
import Glibc
import HTTPServer
import Postgres
import Synchronization
import Testing

@Suite struct PlatformTests {
    @Test func operationsEndpoints() throws {
        let c = try Harness.anonymous()
        let health = try c.get("/healthz")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "ok")
        let ready = try c.get("/readyz")
        #expect(ready.status == 200, "\(ready.text)")
        #expect(ready.json["migrations"] as? String == "current")
        _ = try c.get("/v1/vendors")
        let metrics = try c.get("/metrics")
        #expect(metrics.status == 200)
        #expect(
            metrics.text.contains("bulwark_http_requests_total{method=\"GET\",route=\"/v1/vendors\",status=\"401\"}"))
        #expect(metrics.text.contains("bulwark_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}"))
        #expect(metrics.text.contains("bulwark_db_pool_in_use"))
        #expect(metrics.text.contains("bulwark_db_pool_waits_total"))
        // A method invented by a client is counted as "other": it can neither break the format nor add series.
        _ = try c.request("BAR\"x", "/nope")
        let after = try c.get("/metrics").text
        #expect(after.contains("bulwark_http_requests_total{method=\"other\",route=\"unmatched\""), "\(after)")
        #expect(!after.contains("BAR"))
        let spec = try c.get("/openapi.yaml")
        #expect(spec.status == 200)
        #expect(spec.text.hasPrefix("openapi: 3.1"))
    }

    @Test func requestIDIsEchoedOrGenerated() throws {
        let c = try Harness.anonymous()
        #expect(try c.get("/healthz", headers: [("X-Request-Id", "trace-123")]).header("x-request-id") == "trace-123")
        let generated = try c.get("/healthz", headers: [("X-Request-Id", String(repeating: "x", count: 300))])
        #expect(generated.header("x-request-id")?.count == 32)
        let problem = try c.get("/nope", headers: [("X-Request-Id", "trace-404")])
        #expect(problem.json["request_id"] as? String == "trace-404")
    }

    @Test func authenticationFailuresAre401() throws {
        let anonymous = try Harness.anonymous()
        let none = try anonymous.get("/v1/vendors")
        #expect(none.status == 401)
        #expect(none.header("www-authenticate") == "Bearer")
        #expect(none.header("content-type") == "application/problem+json")
        for header in [
            "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer bwk_" + String(repeating: "A", count: 43), "Bearer",
            "Bearer bwk_" + String(repeating: "é", count: 43),
        ] {
            #expect(try anonymous.get("/v1/vendors", headers: [("Authorization", header)]).status == 401, "\(header)")
        }
        // A real token's prefix with a wrong secret.
        let admin = try Harness.client(role: .admin)
        let forged = String(admin.token!.prefix(16)) + String(repeating: "x", count: 31)
        #expect(try anonymous.get("/v1/vendors", headers: [("Authorization", "Bearer \(forged)")]).status == 401)
    }

    @Test func revokedExpiredAndDeactivatedTokensAre401() throws {
        let db = try Harness.connection()
        let admin = try Harness.client(role: .admin)
        #expect(try admin.get("/v1/vendors?limit=1").status == 200)
        let prefix = String(admin.token!.dropFirst(4).prefix(12))
        try db.execute("UPDATE api_tokens SET revoked_at = now() WHERE prefix = \(prefix)")
        #expect(try admin.get("/v1/vendors?limit=1").status == 401)

        let expiring = try Harness.client(role: .procurement)
        try db.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE prefix = \(String(expiring.token!.dropFirst(4).prefix(12)))"
        )
        #expect(try expiring.get("/v1/vendors?limit=1").status == 401)

        let deactivated = try Harness.client(role: .auditor)
        try db.execute(
            "UPDATE users SET active = false WHERE id = (SELECT user_id FROM api_tokens WHERE prefix = \(String(deactivated.token!.dropFirst(4).prefix(12))))"
        )
        #expect(try deactivated.get("/v1/vendors?limit=1").status == 401)
    }

    @Test func malformedBodiesAre400And415() throws {
        let admin = try Harness.client(role: .admin)
        for raw in ["{", "{\"name\": }", "[1, 2]", "\"text\"", "", "{\"name\": \"a\"} trailing"] {
            let r = try admin.request("POST", "/v1/vendors", raw: raw)
            #expect(r.status == 400, "\(raw) → \(r.status)")
            #expect(r.json["type"] as? String == "urn:bulwark:problem:malformed-body")
        }
        let form = try admin.request(
            "POST", "/v1/vendors", raw: "name=x", contentType: "application/x-www-form-urlencoded")
        #expect(form.status == 415)
        let latin1 = try admin.request(
            "POST", "/v1/vendors", raw: "{}", contentType: "application/json; charset=iso-8859-1")
        #expect(latin1.status == 415)
        let utf8 = try admin.request("POST", "/v1/vendors", raw: "{}", contentType: "application/json; charset=utf-8")
        #expect(utf8.status == 422)
    }

    @Test func unknownRouteIs404AndWrongMethodIs405() throws {
        let c = try Harness.anonymous()
        let missing = try c.get("/v1/nothing-here")
        #expect(missing.status == 404)
        #expect(missing.header("content-type") == "application/problem+json")
        #expect(try c.get("/v1/vendors/").status == 404)
        #expect(try c.request("PUT", "/healthz").header("allow") == "GET")
        #expect(try c.request("PUT", "/v1/vendors").status == 401, "authentication comes first on /v1")
        let admin = try Harness.client(role: .auditor)
        let wrong = try admin.request("PUT", "/v1/vendors")
        #expect(wrong.status == 405)
        #expect(wrong.header("allow") == "GET, POST")
        let wrongItem = try admin.request("POST", "/v1/vendors/\(UUID().uuidString)")
        #expect(wrongItem.status == 405)
        #expect(Set((wrongItem.header("allow") ?? "").components(separatedBy: ", ")) == ["GET", "PATCH", "DELETE"])
    }

    @Test func oversizedBodiesAre413BeforeBeingRead() throws {
        let running = try Harness.start { $0.maxBodyBytes = 4096 }
        let admin = try Harness.client(role: .admin, on: running)
        // Announced by Content-Length: answered without sending the body at all.
        let connection = try HTTPConnection(port: running.port)
        try connection.send(
            "POST /v1/vendors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin.token!)\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
        )
        let early = try connection.readResponse()
        #expect(early.status == 413)
        #expect(early.json["type"] as? String == "urn:bulwark:problem:payload-too-large")
        // Chunked, growing past the limit.
        let chunked = try HTTPConnection(port: running.port)
        try chunked.send(
            "POST /v1/vendors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin.token!)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        let chunk = String(repeating: "a", count: 3000)
        try? chunked.send("\(String(chunk.count, radix: 16))\r\n\(chunk)\r\n")
        try? chunked.send("\(String(chunk.count, radix: 16))\r\n\(chunk)\r\n")
        try? chunked.send("0\r\n\r\n")
        #expect(try chunked.readResponse().status == 413)
        // Just under the limit is read and validated.
        let fits = try admin.request(
            "POST", "/v1/vendors", raw: "{\"name\": \"\(String(repeating: "n", count: 3000))\"}")
        #expect(fits.status == 422)
    }

    @Test func wrongTypesAre422() throws {
        let admin = try Harness.client(role: .admin)
        let r = try admin.post("/v1/vendors", ["name": ["nested"], "tier": true, "tags": "one", "contract": [1]])
        #expect(r.status == 422)
        #expect(Set(r.errorFields) == ["name", "tier", "tags", "contract"])
    }

    @Test func anExhaustedPoolIs503WithRetryAfterNotAHang() throws {
        let running = try Harness.start {
            $0.databasePoolSize = 1
            $0.databaseWaitSeconds = 0.2
        }
        let admin = try Harness.client(role: .admin, on: running)
        let held = try running.app.pool.acquire()
        let started = Date()
        let r = try admin.get("/v1/vendors")
        #expect(r.status == 503)
        #expect(r.header("retry-after") == "1")
        #expect(Date().timeIntervalSince(started) < 5)
        running.app.pool.release(held)
        #expect(try admin.get("/v1/vendors?limit=1").status == 200)
        #expect(running.app.pool.statistics.timeouts == 1)
    }

    @Test func connectionsKilledUnderTheServerAreReplacedUnseen() throws {
        let running = try Harness.start { $0.databasePoolSize = 2 }
        let admin = try Harness.client(role: .admin, on: running)
        #expect(try admin.get("/v1/vendors?limit=1").status == 200)
        // Both pooled sessions die, as in a database restart.
        let a = try running.app.pool.acquire()
        let b = try running.app.pool.acquire()
        let pids: [Int] = try [a, b].map { try $0.query("SELECT pg_backend_pid()::int8 AS pid").first!.decode("pid") }
        running.app.pool.release(a)
        running.app.pool.release(b)
        let killer = try Harness.connection()
        for pid in pids { try killer.execute("SELECT pg_terminate_backend(\(pid)::int4)") }
        usleep(100_000)
        let statuses = try (0..<6).map { _ in try admin.get("/v1/vendors?limit=1").status }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        // The replacements still run as the application role, under row-level security.
        let c = try running.app.pool.acquire()
        defer { running.app.pool.release(c) }
        let role: String = try c.query("SELECT current_user AS role").first!.decode("role")
        #expect(role == "bulwark_app")
    }

    /// The service can log in as its own role: then not even RESET ROLE lifts a session above row-level security.
    @Test func theServiceLogsInAsItsOwnRole() throws {
        var url = try #require(URLComponents(string: Harness.databaseURL))
        url.user = "bulwark_app"
        url.password = nil
        let serviceURL = try #require(url.string)
        let running = try Harness.start {
            $0.serviceDatabaseURL = serviceURL
            $0.databaseRole = ""
        }
        let admin = try Harness.client(role: .admin, on: running)
        #expect(try admin.get("/v1/vendors?limit=1").status == 200)
        let c = try running.app.pool.acquire()
        defer { running.app.pool.release(c) }
        try c.run(script: "RESET ROLE")
        let row = try #require(try c.query("SELECT session_user::text AS s, current_user::text AS u").first)
        #expect(try row.decode("s", as: String.self) == "bulwark_app")
        #expect(try row.decode("u", as: String.self) == "bulwark_app")
        #expect(try CLI.bypassesRowLevelSecurity(c) == nil)
        let visible: Int = try c.query("SELECT count(*)::int8 AS n FROM vendors").first!.decode("n")
        #expect(visible == 0, "no scope, no vendor rows")
    }

    /// A server whose schema folder holds a migration the database has not applied is up but not ready.
    @Test func pendingMigrationsMakeReadyz503() throws {
        let fm = FileManager.default
        let home = fm.temporaryDirectory.appendingPathComponent("bulwark-home-\(UUID().uuidString)").path
        defer { try? fm.removeItem(atPath: home) }
        try fm.createDirectory(atPath: home + "/schema", withIntermediateDirectories: true)
        for file in try fm.contentsOfDirectory(atPath: Harness.home + "/schema") {
            try fm.copyItem(atPath: Harness.home + "/schema/" + file, toPath: home + "/schema/" + file)
        }
        try Data("SELECT 1;\n".utf8).write(to: URL(fileURLWithPath: home + "/schema/9999_not_yet.sql"))
        let running = try Harness.start { $0.home = home }
        let c = Client(port: running.port, token: nil)
        let ready = try c.get("/readyz")
        #expect(ready.status == 503, "\(ready.text)")
        #expect(ready.header("retry-after") != nil)
        #expect((ready.json["detail"] as? String)?.contains("1 pending") == true, "\(ready.text)")
        #expect(try c.get("/healthz").status == 200)
    }

    @Test func anUnreachableDatabaseIs503() throws {
        let running = try Harness.start {
            $0.databaseURL = "postgresql://postgres@127.0.0.1:1/none"
            $0.serviceDatabaseURL = nil
        }
        let c = Client(port: running.port, token: "bwk_" + String(repeating: "A", count: 43))
        let r = try c.get("/v1/vendors")
        #expect(r.status == 503)
        #expect(r.header("retry-after") != nil)
        #expect(!r.text.contains("127.0.0.1:1"), "no database text reaches a client")
        let ready = try c.get("/readyz")
        #expect(ready.status == 503)
        #expect(try c.get("/healthz").status == 200)
    }

    @Test func aHundredConcurrentClientsLeaveTheServerUp() throws {
        let admin = try Harness.client(role: .admin)
        let failures = Atomic<Int>(0)
        let problems = Mutex<[String]>([])
        let done = DispatchGroup()
        for i in 0..<100 {
            done.enter()
            Thread {
                defer { done.leave() }
                for j in 0..<10 {
                    let outcome: Result<Int, Error>
                    let want: Int
                    switch (i + j) % 3 {
                    case 0: (outcome, want) = (Result { try admin.get("/healthz").status }, 200)
                    case 1: (outcome, want) = (Result { try admin.get("/v1/vendors?limit=5").status }, 200)
                    default:
                        (outcome, want) = (Result { try admin.request("POST", "/v1/vendors", raw: "{").status }, 400)
                    }
                    if case .success(want) = outcome {
                    } else {
                        failures.add(1, ordering: .relaxed)
                        problems.withLock { $0.append("\(outcome) (wanted \(want))") }
                    }
                }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.load(ordering: .relaxed) == 0, "\(problems.withLock { $0.prefix(5) })")
        #expect(try admin.get("/healthz").status == 200)
    }

    @Test func keepAliveServesManyRequestsOnOneConnection() throws {
        let admin = try Harness.client(role: .admin)
        let connection = try HTTPConnection(port: try Harness.shared.port)
        for _ in 0..<20 {
            let r = try connection.request(
                "GET", "/v1/vendors?limit=1", headers: [("Authorization", "Bearer \(admin.token!)")])
            #expect(r.status == 200)
        }
    }
}
