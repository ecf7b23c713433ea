import Bulwark
import Foundation
import Postgres
import Synchronization
import Testing

@Suite struct IdentityTests {
    let admin: Client
    init() throws { admin = try Harness.client(role: .admin) }

    func email() -> String { "u-\(UUID().uuidString.prefix(12).lowercased())@example.test" }

    @Test func usersAreCreatedReadUpdatedAndDeactivatedNeverDeleted() throws {
        let address = email()
        let created = try admin.post("/v1/users", ["email": address, "name": "Pat Analyst", "role": "risk_analyst"])
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"] as? String)
        #expect(created.header("location") == "/v1/users/\(id)")
        #expect(created.json["active"] as? Bool == true)
        #expect(
            try admin.post("/v1/users", ["email": address.uppercased(), "name": "Dup", "role": "auditor"]).status == 409
        )
        #expect(try admin.get("/v1/users/\(id)").json["email"] as? String == address)

        // A token for the user works until the user is deactivated, then at once no longer.
        let token = try admin.post("/v1/users/\(id)/tokens", ["name": "laptop"])
        #expect(token.status == 201)
        #expect(token.header("cache-control") == "no-store")
        let secret = try #require(token.json["token"] as? String)
        let user = Client(port: admin.port, token: secret)
        let me = try user.get("/v1/me")
        #expect(me.status == 200)
        #expect(me.json["role"] as? String == "risk_analyst")
        #expect((me.json["token"] as? [String: Any])?["name"] as? String == "laptop")

        let off = try admin.patch("/v1/users/\(id)", ["active": false])
        #expect(off.status == 200)
        #expect(try user.get("/v1/me").status == 401)
        #expect(try admin.request("DELETE", "/v1/users/\(id)").status == 405)
        #expect(try admin.post("/v1/users/\(id)/tokens", ["name": "another"]).status == 409)

        let audit = try Harness.connection().query(
            "SELECT action FROM audit_events WHERE resource_id = \(id) ORDER BY seq")
        let actions = try audit.rows.map { try $0.decode("action", as: String.self) }
        #expect(actions == ["user.created", "user.deactivated"])
    }

    @Test func anAdminCannotDemoteOrDeactivateThemselves() throws {
        let me = try Harness.client(role: .admin)
        let id = try #require(try me.get("/v1/me").json["id"] as? String)
        for change in [["role": "auditor"], ["active": false] as [String: Any]] {
            let r = try me.patch("/v1/users/\(id)", change)
            #expect(r.status == 409, "\(change): \(r.text)")
        }
        #expect(try me.get("/v1/me").json["role"] as? String == "admin")
        // Their name is theirs to change; another admin may demote them.
        #expect(try me.patch("/v1/users/\(id)", ["name": "Still Admin"]).status == 200)
        #expect(try admin.patch("/v1/users/\(id)", ["role": "auditor"]).status == 200)
        #expect(try me.get("/v1/me").json["role"] as? String == "auditor")
    }

    @Test func theBearerSchemeIsReadCaseInsensitivelyAndNothingElseIs() throws {
        let token = try #require(admin.token)
        func status(_ authorization: String) throws -> Int {
            try Client(port: admin.port, token: nil).get("/v1/me", headers: [("Authorization", authorization)]).status
        }
        #expect(try status("Bearer \(token)") == 200)
        #expect(try status("bearer \(token)") == 200)
        #expect(try status("BEARER   \(token)  ") == 200)
        #expect(try status("Bearer\t\(token)") == 401)
        #expect(try status("Basic \(token)") == 401)
        #expect(try status("Bearer") == 401)
        #expect(try status("Bearer ") == 401)
        #expect(try status("Bearerx \(token)") == 401)
        #expect(try status("Bearer \(token)x") == 401)
    }

    /// On a database of its own with exactly two admins: they may not demote each other at the same moment
    /// (one of the two changes is refused), so an active admin always remains.
    @Test func twoAdminsDemotingEachOtherAtOnceLeaveOneAdmin() throws {
        guard let slash = Harness.databaseURL.lastIndex(of: "/") else { return }
        let name = "admins_" + UUID().uuidString.prefix(8).lowercased()
        let maintenance = try Connection(
            ConnectionConfiguration(url: String(Harness.databaseURL[..<slash]) + "/postgres"))
        try maintenance.run(script: "CREATE DATABASE \(name)")
        defer { _ = try? maintenance.run(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let url = String(Harness.databaseURL[..<slash]) + "/" + name
        let db = try Connection(ConnectionConfiguration(url: url))
        try Migrator(directory: Harness.home + "/schema").migrate(db)
        var service = try #require(URLComponents(string: url))
        service.user = "bulwark_app"
        service.password = nil
        let running = try Harness.start {
            $0.databaseURL = url
            $0.serviceDatabaseURL = service.string
            $0.databaseRole = ""
        }
        var admins: [(id: UUID, client: Client)] = []
        for i in 0..<2 {
            let id = try UserStore().findOrCreate(
                db, email: "admin\(i)@\(name).invalid", name: "Admin \(i)", role: .admin, vendorID: nil)
            let (_, secret) = try TokenStore().create(db, userID: id, name: "t", expiresAt: nil)
            admins.append((id, Client(port: running.port, token: secret.text)))
        }
        for change in [["role": "auditor"], ["active": false] as [String: Any]] {
            let statuses = Mutex<[Int]>([])
            let group = DispatchGroup()
            for (mine, other) in [(0, 1), (1, 0)] {
                let actor = admins[mine].client
                let target = admins[other].id.uuidString
                nonisolated(unsafe) let body = change
                group.enter()
                Thread {
                    defer { group.leave() }
                    let r = try? actor.patch("/v1/users/\(target)", body)
                    statuses.withLock { $0.append(r?.status ?? 0) }
                }.start()
            }
            group.wait()
            let seen = statuses.withLock { $0 }.sorted()
            let active: Int = try db.query("SELECT count(*)::int8 AS n FROM users WHERE role = 'admin' AND active")
                .first!.decode("n")
            #expect(active == 1, "\(change): \(seen)")
            // One change lands; the other is refused: as the last admin (409), or because its sender is no
            // longer an admin (403) or no longer active (401) by the time it is authenticated.
            #expect(seen.filter { $0 == 200 }.count == 1, "\(change): \(seen)")
            #expect(seen.allSatisfy { [200, 401, 403, 409].contains($0) }, "\(change): \(seen)")
            // Put the demoted one back for the next round, as the database owner.
            try db.execute("UPDATE users SET role = 'admin', active = true")
        }
    }

    static let invalidUsers: [([String: String], String)] = [
        (["email": "nope"], "email"),
        (["role": "overlord"], "role"),
        (["role": "vendor"], "vendor_id"),
        (["vendor_id": "8d5b6f0e-0000-4000-8000-000000000000"], "vendor_id"),
        (["name": ""], "name"),
        (["shoe_size": "9"], "shoe_size"),
    ]

    @Test(arguments: 0..<IdentityTests.invalidUsers.count)
    func userValidation(index: Int) throws {
        let (fields, field) = IdentityTests.invalidUsers[index]
        var body: [String: Any] = ["email": email(), "name": "Someone", "role": "auditor"]
        for (k, v) in fields { body[k] = v }
        let r = try admin.post("/v1/users", body)
        #expect(r.status == 422, "\(r.text)")
        #expect(r.errorFields.contains(field), "\(r.text)")
    }

    @Test func aVendorUserNeedsAnExistingVendor() throws {
        let r = try admin.post(
            "/v1/users", ["email": email(), "name": "V", "role": "vendor", "vendor_id": UUID().uuidString])
        #expect(r.status == 422)
        #expect(r.errorFields == ["vendor_id"])
    }

    @Test func tokensAreListedWithoutSecretsAndRevokedAtOnce() throws {
        let id = try #require(
            try admin.post("/v1/users", ["email": email(), "name": "T", "role": "auditor"]).json["id"] as? String)
        let expires = Timestamp.rfc3339(Date().addingTimeInterval(86_400))
        let created = try admin.post("/v1/users/\(id)/tokens", ["name": "ci", "expires_at": expires])
        #expect(created.status == 201)
        let secret = try #require(created.json["token"] as? String)
        let tokenID = try #require(created.json["id"] as? String)
        let list = try admin.get("/v1/users/\(id)/tokens")
        #expect(list.status == 200)
        #expect(!list.text.contains(secret))
        #expect(!list.text.contains("\"token\""))
        let items = try #require(list.json["items"] as? [[String: Any]])
        #expect(items.count == 1)
        #expect((items[0]["prefix"] as? String).map { secret.hasPrefix($0) } == true)

        let client = Client(port: admin.port, token: secret)
        #expect(try client.get("/v1/vendors?limit=1").status == 200)
        #expect(try admin.delete("/v1/tokens/\(tokenID)").status == 204)
        #expect(try client.get("/v1/vendors?limit=1").status == 401)
        #expect(try admin.delete("/v1/tokens/\(tokenID)").status == 409)
        #expect(try admin.delete("/v1/tokens/\(UUID().uuidString)").status == 404)

        let past = try admin.post("/v1/users/\(id)/tokens", ["name": "old", "expires_at": "2020-01-01T00:00:00Z"])
        #expect(past.status == 422)
        #expect(past.errorFields == ["expires_at"])
    }

    @Test func vendorUsersMayChangeTheirContactsOnly() throws {
        let vendor = try admin.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"]).json
        let vendorID = try #require(vendor["id"] as? String)
        let user = try Harness.client(role: .vendor, vendorID: UUID(uuidString: vendorID))
        let contacts = [["name": "Ops", "email": "ops@vendor.example", "primary": true]]
        let ok = try user.patch("/v1/vendors/\(vendorID)", ["contacts": contacts])
        #expect(ok.status == 200, "\(ok.text)")
        #expect((ok.json["contacts"] as? [[String: Any]])?.first?["email"] as? String == "ops@vendor.example")
        let tier = try user.patch("/v1/vendors/\(vendorID)", ["tier": "critical", "contacts": contacts])
        #expect(tier.status == 403)
        #expect(try admin.get("/v1/vendors/\(vendorID)").json["tier"] as? String == "low")
    }

    /// Reads start from a cached principal; a change made behind this server's back (by another replica, or
    /// by hand in the database) must still decide the very next request.
    @Test func tokenChangesMadeElsewhereDecideTheNextRead() throws {
        let db = try Harness.connection()
        func id(_ r: HTTPResponse) throws -> UUID { try #require(UUID(uuidString: r.json["id"] as? String ?? "")) }
        let a = try id(try admin.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"]))
        let b = try id(try admin.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"]))
        let vendorUser = try Harness.client(role: .vendor, vendorID: a)
        let userID = try id(try vendorUser.get("/v1/me"))
        #expect(try vendorUser.get("/v1/vendors/\(a)").status == 200)
        #expect(try vendorUser.get("/v1/vendors/\(b)").status == 404)

        // Moved to another vendor: the old one is gone at once, the new one is there.
        try db.execute("UPDATE users SET vendor_id = \(b) WHERE id = \(userID)")
        #expect(try vendorUser.get("/v1/vendors/\(a)").status == 404)
        #expect(try vendorUser.get("/v1/vendors/\(b)").status == 200)

        // A role taken away: the next read is decided on the new role.
        let other = try Harness.client(role: .admin)
        #expect(try other.get("/v1/users").status == 200)
        let otherID = try id(try other.get("/v1/me"))
        try db.execute("UPDATE users SET role = 'auditor' WHERE id = \(otherID)")
        #expect(try other.get("/v1/users").status == 403)
        #expect(try other.get("/v1/me").json["role"] as? String == "auditor")

        // Revoked, expired, deactivated elsewhere: 401 on the next read, also one that runs no query of its own.
        for change in [
            "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1",
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1",
            "UPDATE users SET active = false WHERE id = $1",
        ] {
            let client = try Harness.client(role: .procurement)
            #expect(try client.get("/v1/vendors/\(a)").status == 200)
            #expect(try client.get("/v1/me").status == 200)
            let user = try id(try client.get("/v1/me"))
            try db.run(script: change.replacingOccurrences(of: "$1", with: "'\(user.uuidString.lowercased())'"))
            #expect(try client.get("/v1/vendors/\(a)").status == 401, "after: \(change)")
            #expect(try client.get("/v1/me").status == 401, "after: \(change)")
            #expect(try client.get("/v1/vendors").status == 401, "after: \(change)")
        }
    }

    @Test func rowLevelSecurityHidesVendorRowsWithoutAScope() throws {
        let vendor = try admin.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"]).json
        let vendorID = try #require(vendor["id"] as? String)
        let db = try Harness.connection()
        // As the owner (this test's connection) the row is there.
        let total: Int = try db.query("SELECT count(*)::int8 AS n FROM vendors").first!.decode("n")
        #expect(total >= 1)
        // Every vendor-owned table (vendors, and each one with a vendor_id but users) has row-level security.
        let owned = try db.query(
            """
            SELECT c.relname::text AS name, c.relrowsecurity AS rls FROM pg_class c \
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND (c.relname = 'vendors' OR \
            (c.relname <> 'users' AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
            AND a.attname = 'vendor_id' AND NOT a.attisdropped)))
            """
        ).rows.map { (try $0.decode("name", as: String.self), try $0.decode("rls", as: Bool.self)) }
        #expect(
            Set(owned.map(\.0)).isSuperset(of: ["vendors", "assessments", "answers", "answer_history", "evidence"]))
        for (table, rls) in owned { #expect(rls, "\(table) has no row-level security") }
        try db.transaction { tx in
            try tx.run(script: "SET LOCAL ROLE bulwark_app")
            let none: Int = try tx.query("SELECT count(*)::int8 AS n FROM vendors").first!.decode("n")
            #expect(none == 0, "no scope: no vendor-owned rows")
            for (table, _) in owned {
                let n: Int = try tx.query(SQL(unsafe: "SELECT count(*)::int8 AS n FROM \(table)")).first!.decode("n")
                #expect(n == 0, "no scope: no rows of \(table)")
            }
            try tx.run(
                script:
                    "SELECT set_config('bulwark.scope', 'vendor', true), set_config('bulwark.vendor_id', '\(vendorID)', true)"
            )
            let own: [UUID] = try tx.query("SELECT id FROM vendors").rows.map { try $0.decode("id") }
            #expect(own == [UUID(uuidString: vendorID)!])
            #expect(throws: PostgresError.self) {
                try tx.execute("INSERT INTO vendors (name, tier) VALUES (\(Harness.uniqueName()), 'low')")
            }
        }
    }

    @Test func twentyConcurrentPostsWithOneKeyCreateOneVendor() throws {
        let key = "idem-\(UUID().uuidString)"
        let name = Harness.uniqueName("Idem")
        let statuses = Mutex<[Int]>([])
        let ids = Mutex<Set<String>>([])
        let group = DispatchGroup()
        for _ in 0..<20 {
            group.enter()
            Thread {
                defer { group.leave() }
                if let r = try? admin.post(
                    "/v1/vendors", ["name": name, "tier": "low"], headers: [("Idempotency-Key", key)])
                {
                    statuses.withLock { $0.append(r.status) }
                    if r.status == 201, let id = r.json["id"] as? String { ids.withLock { _ = $0.insert(id) } }
                }
            }.start()
        }
        group.wait()
        let all = statuses.withLock { $0 }
        #expect(all.count == 20)
        #expect(all.allSatisfy { $0 == 201 || $0 == 409 }, "\(all)")
        #expect(ids.withLock { $0.count } == 1)
        let count: Int = try Harness.connection().query("SELECT count(*)::int8 AS n FROM vendors WHERE name = \(name)")
            .first!.decode("n")
        #expect(count == 1)
        let replay = try admin.post("/v1/vendors", ["name": name, "tier": "low"], headers: [("Idempotency-Key", key)])
        #expect(replay.status == 201)
        #expect(replay.header("idempotent-replayed") == "true")
        #expect(replay.json["id"] as? String == ids.withLock { $0.first })
        let different = try admin.post(
            "/v1/vendors", ["name": name, "tier": "high"], headers: [("Idempotency-Key", key)])
        #expect(different.status == 422)
        #expect(different.errorFields == ["Idempotency-Key"])
        // Another user's key space is separate.
        let other = try Harness.client(role: .admin)
        let elsewhere = try other.post(
            "/v1/vendors", ["name": name, "tier": "low"], headers: [("Idempotency-Key", key)])
        #expect(
            elsewhere.status == 409, "a second vendor with that name: the key did not replay another user's response")
    }

    /// A POST of a vendor with an Idempotency-Key, held inside its transaction: an uncommitted row with the same
    /// name in another session makes its INSERT wait (the unique index). Returns once the key is claimed;
    /// `release` rolls the blocking row back and returns the POST's response.
    func heldPost(name: String, key: String) throws -> (owner: Connection, release: () throws -> HTTPResponse?) {
        let blocker = try Harness.connection()
        try blocker.run(script: "BEGIN")
        try blocker.execute("INSERT INTO vendors (name, tier) VALUES (\(name), 'low')")
        let first = Mutex<HTTPResponse?>(nil)
        let done = DispatchSemaphore(value: 0)
        let admin = self.admin
        Thread {
            first.withLock {
                $0 = try? admin.post("/v1/vendors", ["name": name, "tier": "low"], headers: [("Idempotency-Key", key)])
            }
            done.signal()
        }.start()
        let owner = try Harness.connection()
        var claimed = false
        for _ in 0..<200 where !claimed {
            usleep(20_000)
            claimed =
                try owner.query(
                    "SELECT count(*)::int8 AS n FROM idempotency_keys WHERE key = \(key) AND state = 'in_progress'"
                ).first?.decode("n", as: Int.self) == 1
        }
        #expect(claimed)
        return (
            owner,
            {
                try blocker.run(script: "ROLLBACK")
                done.wait()
                return first.withLock { $0 }
            }
        )
    }

    /// A retry that arrives while the first request is still running is a 409; once the first finishes, the
    /// retry replays its response.
    @Test func aRetryWhileTheFirstIsRunningIsA409() throws {
        let key = "idem-\(UUID().uuidString)"
        let name = Harness.uniqueName("Held")
        let (_, release) = try heldPost(name: name, key: key)
        let retry = try admin.post("/v1/vendors", ["name": name, "tier": "low"], headers: [("Idempotency-Key", key)])
        #expect(retry.status == 409, "\(retry.status) \(retry.text)")
        let created = try #require(try release())
        #expect(created.status == 201, "\(created.text)")
        // The stored response committed with the vendor: the replay is that very response.
        let replay = try admin.post("/v1/vendors", ["name": name, "tier": "low"], headers: [("Idempotency-Key", key)])
        #expect(replay.status == 201)
        #expect(replay.header("idempotent-replayed") == "true")
        #expect(replay.json["id"] as? String == created.json["id"] as? String)
    }

    /// A request that outlived its claim (a retry took the key over after the abandonment window) must not
    /// commit: its changes roll back and it answers 409, and the retry's claim is left alone.
    @Test func aRequestWhoseKeyWasTakenOverCommitsNothing() throws {
        let key = "idem-\(UUID().uuidString)"
        let name = Harness.uniqueName("Overtaken")
        let (owner, release) = try heldPost(name: name, key: key)
        // What a retry does once the first claim looks abandoned: replace it with a claim of its own.
        try owner.execute(
            "UPDATE idempotency_keys SET request_hash = \(ByteA([UInt8](repeating: 1, count: 32))) WHERE key = \(key)")
        let answer = try #require(try release())
        #expect(answer.status == 409, "\(answer.status) \(answer.text)")
        let rows: Int = try owner.query("SELECT count(*)::int8 AS n FROM vendors WHERE name = \(name)").first!.decode(
            "n")
        #expect(rows == 0, "the overtaken request committed nothing")
        let state: String? = try owner.query("SELECT state FROM idempotency_keys WHERE key = \(key)").first?.decode(
            "state")
        #expect(state == "in_progress", "the retry's claim is untouched")
    }

    @Test func aFailedRequestDoesNotBurnItsKey() throws {
        let key = "idem-\(UUID().uuidString)"
        let bad = try admin.post("/v1/vendors", ["tier": "low"], headers: [("Idempotency-Key", key)])
        #expect(bad.status == 422)
        let good = try admin.post(
            "/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"], headers: [("Idempotency-Key", key)])
        #expect(good.status == 201)
        #expect(good.header("idempotent-replayed") == nil)
        let badKey = try admin.post(
            "/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"], headers: [("Idempotency-Key", "a b")])
        #expect(badKey.status == 422)
    }

    /// Failed authentications from an address hold back unknown tokens only: a token this server has seen
    /// succeed keeps working from the same address (one NAT, one proxy for many users).
    @Test func anAddressOutOfFailedAttemptsStillServesKnownTokens() throws {
        let running = try Harness.start {
            $0.authFailuresPerMinute = 1
            $0.authFailureBurst = 2
        }
        let known = try Harness.client(role: .auditor, on: running)
        #expect(try known.get("/v1/vendors?limit=1").status == 200)
        let stranger = Client(port: running.port, token: "bwk_" + String(repeating: "C", count: 43))
        let statuses = try (0..<4).map { _ in try stranger.get("/v1/vendors").status }
        #expect(statuses.last == 429, "\(statuses)")
        #expect(try known.get("/v1/vendors?limit=1").status == 200)
        // A valid token this server has not seen yet is still an unknown token here.
        let fresh = try Harness.client(role: .auditor, on: running)
        #expect(try fresh.get("/v1/vendors?limit=1").status == 429)
    }

    @Test func rateLimitsAnswer429WithRetryAfter() throws {
        let running = try Harness.start {
            $0.rateLimitPerSecond = 1
            $0.rateLimitBurst = 5
            $0.authFailuresPerMinute = 1
            $0.authFailureBurst = 3
        }
        let client = try Harness.client(role: .auditor, on: running)
        let statuses = try (0..<7).map { _ in try client.get("/v1/vendors?limit=1").status }
        #expect(statuses.prefix(5).allSatisfy { $0 == 200 }, "\(statuses)")
        let limited = try client.get("/v1/vendors?limit=1")
        #expect(limited.status == 429)
        #expect(Int(limited.header("retry-after") ?? "") ?? 0 >= 1)
        #expect(limited.json["type"] as? String == "urn:bulwark:problem:rate-limited")

        let stranger = Client(port: running.port, token: "bwk_" + String(repeating: "B", count: 43))
        let failures = try (0..<5).map { _ in try stranger.get("/v1/vendors").status }
        #expect(failures.prefix(3).allSatisfy { $0 == 401 }, "\(failures)")
        #expect(failures.last == 429)
    }

    @Test func theAuditChainIsVerifiedAndATamperedRowIsNamed() throws {
        let audited = try admin.post("/v1/vendors", ["name": Harness.uniqueName("Audited"), "tier": "low"])
        let vendorID = try #require(audited.json["id"] as? String)
        let db = try Harness.connection()
        let store = AuditStore()
        #expect(try store.verify(db).firstBroken == nil)
        // The database itself refuses edits and deletes, even from the owner.
        #expect(throws: PostgresError.self) { try db.execute("UPDATE audit_events SET action = 'x' WHERE seq = 1") }
        #expect(throws: PostgresError.self) { try db.execute("DELETE FROM audit_events WHERE seq = 1") }
        // Edited behind the service's back (triggers off, as a superuser can): verify names the row.
        // This test's own row, so that tests reading their own events meanwhile never see the edit.
        let seq: Int = try db.query(
            "SELECT max(seq)::int8 AS s FROM audit_events WHERE resource_id = \(vendorID)"
        ).first!.decode("s")
        let original: String = try db.query("SELECT action FROM audit_events WHERE seq = \(seq)").first!.decode(
            "action")
        try db.transaction { tx in
            try tx.run(script: "SET LOCAL session_replication_role = replica")
            try tx.execute("UPDATE audit_events SET action = 'nothing.happened' WHERE seq = \(seq)")
        }
        let broken = try store.verify(db).firstBroken
        // The command an operator runs says so too, with exit code 1 and the row's number.
        let cli = try ProcessTests.run(["audit", "verify"])
        try db.transaction { tx in
            try tx.run(script: "SET LOCAL session_replication_role = replica")
            try tx.execute("UPDATE audit_events SET action = \(original) WHERE seq = \(seq)")
        }
        #expect(broken?.seq == seq)
        #expect(cli.0 == 1 && cli.2.contains("BROKEN at event \(seq)"), "\(cli.0) \(cli.2)")
        #expect(try store.verify(db).firstBroken == nil)
        let intact = try ProcessTests.run(["audit", "verify"])
        #expect(intact.0 == 0 && intact.2.contains("audit chain intact"), "\(intact.0) \(intact.2)")
    }

    @Test func auditEventsAreListedWithFiltersAndPages() throws {
        let vendor = try admin.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"]).json
        let id = try #require(vendor["id"] as? String)
        for tier in ["high", "medium", "critical"] { _ = try admin.patch("/v1/vendors/\(id)", ["tier": tier]) }
        let auditor = try Harness.client(role: .auditor)
        var seen: [[String: Any]] = []
        var cursor: String?
        repeat {
            let page = try auditor.get(
                "/v1/audit-events?resource_type=vendor&resource_id=\(id)&limit=3"
                    + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.status == 200)
            seen += page.json["items"] as? [[String: Any]] ?? []
            cursor = page.json["next_cursor"] as? String
        } while cursor != nil
        #expect(
            seen.map { $0["action"] as? String } == [
                "vendor.updated", "vendor.updated", "vendor.updated", "vendor.created",
            ])
        let changes = seen[0]["changes"] as? [String: [String: String]]
        #expect(changes?["tier"]?["before"] == "medium" && changes?["tier"]?["after"] == "critical")
        #expect(try auditor.get("/v1/audit-events?since=yesterday").status == 422)
        #expect(try auditor.get("/v1/audit-events?since=99999-01-01T00:00:00Z").status == 422)
        #expect(try auditor.get("/v1/audit-events?until=2026-13-01T00:00:00Z").status == 422)
        #expect(try auditor.get("/v1/audit-events?since=2026-01-01T00:00:00%2B02:00").status == 200)
        #expect(try Harness.client(role: .procurement).get("/v1/audit-events").status == 403)
    }
}
