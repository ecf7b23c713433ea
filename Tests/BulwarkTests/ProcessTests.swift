import Bulwark
import Foundation
import Glibc
import Testing

/// Drives the real `bulwark` executable as a separate process.
@Suite struct ProcessTests {
    static func executable() throws -> String {
        let root = Harness.home
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("bulwark")
                .path,
            root + "/.build/debug/bulwark",
            root + "/.build/x86_64-unknown-linux-gnu/debug/bulwark",
            root + "/.build/aarch64-unknown-linux-gnu/debug/bulwark",
        ]
        return try #require(
            candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, "build the bulwark executable first")
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                _ = bind(fd, p, len)
                return getsockname(fd, p, &len)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable())
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = Harness.databaseURL
        env["BULWARK_HOME"] = Harness.home
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // A command that should have stopped by itself (a serve that should have refused) must not hang the suite.
        let watchdog = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func sigtermDrainsInFlightRequestsThenExits() throws {
        _ = try Harness.connection()
        let port = ProcessTests.freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ProcessTests.executable())
        p.arguments = ["serve"]
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = Harness.databaseURL
        env["BULWARK_HOME"] = Harness.home
        env["BULWARK_LISTEN"] = "127.0.0.1:\(port)"
        env["BULWARK_LOG_LEVEL"] = "info"
        p.environment = env
        let log = Pipe()
        p.standardError = log
        try p.run()
        defer { if p.isRunning { p.terminate() } }

        var up = false
        for _ in 0..<100 where !up {
            up = (try? Client(port: port).get("/healthz").status) == 200
            if !up { usleep(50_000) }
        }
        #expect(up)
        let admin = try Harness.client(role: .admin)
        let requestID = "access-log-\(UUID().uuidString)"
        let listed = try Client(port: port, token: admin.token).get(
            "/v1/vendors?limit=1", headers: [("X-Request-Id", requestID)])
        #expect(listed.status == 200)
        // A request libmicrohttpd refuses itself: its message must still come out as a JSON log line.
        let refused = try HTTPConnection(port: port)
        try refused.send("POST /v1/vendors HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n")
        #expect((try? refused.readResponse())?.status == 413)
        let body = Array("{\"name\": \"\(Harness.uniqueName("Drain"))\", \"tier\": \"low\"}".utf8)
        let connection = try HTTPConnection(port: port)
        try connection.send(
            "POST /v1/vendors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin.token!)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
        )
        try connection.send(Array(body[0..<10]))
        usleep(200_000)
        kill(p.processIdentifier, SIGTERM)
        usleep(300_000)
        #expect(p.isRunning, "still running while a request is in flight")
        #expect((try? Client(port: port).get("/healthz")) == nil, "no longer accepting connections")
        try connection.send(Array(body[10...]))
        let response = try connection.readResponse()
        #expect(response.status == 201)
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 0)
        // The access log: one JSON line per request, with method, route, status, duration and request id.
        let lines = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n")
        let notJSON = lines.filter { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil }
        #expect(notJSON.isEmpty, "every log line is JSON: \(notJSON)")
        #expect(lines.contains { $0.contains("\"msg\":\"libmicrohttpd\"") }, "libmicrohttpd's refusal is logged")
        #expect(!lines.contains { $0.contains("not the first option") }, "the logger sees every message")
        let entry = try #require(
            lines.compactMap { line -> [String: Any]? in
                guard line.contains(requestID) else { return nil }
                return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }.first, "no access-log line for \(requestID)")
        #expect(entry["method"] as? String == "GET")
        #expect(entry["route"] as? String == "/v1/vendors")
        #expect(entry["status"] as? Int == 200)
        #expect(entry["request_id"] as? String == requestID)
        #expect((entry["duration_ms"] as? Double).map { $0 >= 0 } == true, "\(entry)")
    }

    static func startServer(port: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable())
        p.arguments = ["serve"]
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = Harness.databaseURL
        env["BULWARK_HOME"] = Harness.home
        env["BULWARK_LISTEN"] = "127.0.0.1:\(port)"
        env["BULWARK_LOG_LEVEL"] = "warn"
        p.environment = env
        try p.run()
        for _ in 0..<100 {
            if (try? Client(port: port).get("/healthz").status) == 200 { return p }
            usleep(50_000)
        }
        p.terminate()
        throw HTTPClientError(description: "the server did not come up")
    }

    @Test func aServerKilledMidUploadLosesNothingAndTheRetrySucceeds() throws {
        _ = try Harness.connection()
        let port = ProcessTests.freePort()
        let admin = try Harness.client(role: .admin)
        let name = Harness.uniqueName("Killed")
        let body = Array("{\"name\": \"\(name)\", \"tier\": \"low\"}".utf8)
        let key = "kill-\(UUID().uuidString)"
        let head =
            "POST /v1/vendors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin.token!)\r\nContent-Type: application/json\r\n"
            + "Idempotency-Key: \(key)\r\nContent-Length: \(body.count)\r\n\r\n"

        let first = try ProcessTests.startServer(port: port)
        let connection = try HTTPConnection(port: port)
        try connection.send(head)
        try connection.send(Array(body[0..<12]))
        usleep(100_000)
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect((try? connection.readResponse()) == nil, "the upload died with the server")

        let second = try ProcessTests.startServer(port: port)
        defer {
            second.terminate()
            second.waitUntilExit()
        }
        let retry = try HTTPConnection(port: port).request(
            "POST", "/v1/vendors",
            headers: [
                ("Authorization", "Bearer \(admin.token!)"), ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ], body: body)
        #expect(retry.status == 201, "\(retry.text)")
        let count: Int = try Harness.connection().query("SELECT count(*)::int8 AS n FROM vendors WHERE name = \(name)")
            .first!.decode("n")
        #expect(count == 1)
    }

    @Test func tokenCreatePrintsOnlyTheToken() throws {
        let name = "cli \(UUID().uuidString.prefix(8))"
        let (code, out, _) = try ProcessTests.run(["token", "create", "--role", "auditor", "--name", name])
        #expect(code == 0)
        let token = out.trimmingCharacters(in: .newlines)
        #expect(!token.contains("\n"))
        #expect(token.hasPrefix("bwk_") && token.count == 47)
        let first = Client(port: try Harness.shared.port, token: token)
        #expect(try first.get("/v1/vendors?limit=1").status == 200)

        // --replace: the same user's earlier token of that name stops working; the new one works.
        let (again, out2, _) = try ProcessTests.run([
            "token", "create", "--role", "auditor", "--name", name, "--replace",
        ])
        #expect(again == 0)
        let second = Client(port: try Harness.shared.port, token: out2.trimmingCharacters(in: .newlines))
        #expect(try second.get("/v1/vendors?limit=1").status == 200)
        #expect(try first.get("/v1/vendors?limit=1").status == 401)

        // The user the CLI created and the revocation are in the audit trail.
        let me = try second.get("/v1/me").json
        let userID = try #require(me["id"] as? String)
        let actions = try Harness.connection().query(
            "SELECT action FROM audit_events WHERE resource_id = \(userID) OR changes->>'user_id' = \(userID) ORDER BY seq"
        ).rows.map { try $0.decode("action", as: String.self) }
        #expect(actions.first == "user.created", "\(actions)")
        #expect(actions.filter { $0 == "token.created" }.count == 2, "\(actions)")
    }

    @Test func badUsageAndConfigurationExitWith2() throws {
        #expect(try ProcessTests.run(["frobnicate"]).0 == 2)
        #expect(try ProcessTests.run(["token", "create", "--role", "emperor", "--name", "x"]).0 == 2)
        #expect(try ProcessTests.run(["token", "create", "--role", "vendor", "--name", "x"]).0 == 2)
        let (code, _, err) = try ProcessTests.run(["serve"], environment: ["BULWARK_THREADS": "lots"])
        #expect(code == 2)
        #expect(err.contains("BULWARK_THREADS"))
        #expect(try ProcessTests.run(["serve"], environment: ["BULWARK_LISTEN": "nowhere"]).0 == 2)
        let host = try ProcessTests.run(["serve"], environment: ["BULWARK_LISTEN": "myhost:8080"])
        #expect(host.0 == 2 && host.2.contains("BULWARK_LISTEN"), "\(host.2)")
        // A role the database does not know: the service stops at start instead of failing every request.
        let role = try ProcessTests.run(
            ["serve"], environment: ["BULWARK_DB_ROLE": "no_such_role", "BULWARK_LISTEN": "127.0.0.1:0"])
        #expect(role.0 == 2 && role.2.contains("no_such_role"), "\(role.2)")
        // No role at all: the service would run as the connecting superuser, above row-level security.
        let owner = try ProcessTests.run(
            ["serve"], environment: ["BULWARK_DB_ROLE": "", "BULWARK_LISTEN": "127.0.0.1:0"])
        #expect(owner.0 == 2 && owner.2.contains("row-level security"), "\(owner.2)")
        #expect(try ProcessTests.run(["migrate"], environment: ["DATABASE_URL": ""]).0 == 2)
        let help = try ProcessTests.run(["--help"])
        #expect(help.0 == 0 && help.1.contains("token create"))
    }

    @Test func migrateTwiceIsANoOp() throws {
        _ = try Harness.connection()
        let (code, _, err) = try ProcessTests.run(["migrate"])
        #expect(code == 0)
        #expect(err.contains("schema is current"))
    }
}
