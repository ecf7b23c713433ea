import Bulwark
import Foundation
import Postgres
import Testing

@Suite struct VendorTests {
    let admin: Client
    init() throws { admin = try Harness.client(role: .admin) }

    func create(_ extra: [String: Any] = [:], by client: Client? = nil) throws -> [String: Any] {
        var body: [String: Any] = ["name": Harness.uniqueName(), "tier": "high"]
        for (k, v) in extra { body[k] = v }
        let r = try (client ?? admin).post("/v1/vendors", body)
        #expect(r.status == 201, "\(r.text)")
        return r.json
    }

    @Test func createReturnsTheWholeProfileWithLocationAndETag() throws {
        let name = Harness.uniqueName("Initech")
        let r = try admin.post(
            "/v1/vendors",
            [
                "name": "  \(name)  ", "legal_name": "Initech LLC", "website": "https://initech.example",
                "country": "us",
                "services": ["payroll"], "tier": "critical", "status": "active",
                "contacts": [["name": "Bill", "email": "bill@initech.example", "role": "CTO", "primary": true]],
                "tags": ["hr", "hr", "payroll"],
                "contract": [
                    "start_date": "2026-01-01", "renewal_date": "2027-01-01", "notice_days": 60, "auto_renew": true,
                ],
            ])
        #expect(r.status == 201)
        let v = r.json
        let id = try #require(v["id"] as? String)
        #expect(r.header("location") == "/v1/vendors/\(id)")
        #expect(r.header("etag") == "\"v1\"")
        #expect(v["name"] as? String == name)
        #expect(v["country"] as? String == "US")
        #expect(v["tags"] as? [String] == ["hr", "payroll"])
        #expect(v["status"] as? String == "active")
        #expect(v["deleted_at"] is NSNull)
        let contract = try #require(v["contract"] as? [String: Any])
        #expect(contract["renewal_date"] as? String == "2027-01-01")
        #expect(contract["notice_days"] as? Int == 60)
        let contacts = try #require(v["contacts"] as? [[String: Any]])
        #expect(contacts.first?["primary"] as? Bool == true)

        let fetched = try admin.get("/v1/vendors/\(id)")
        #expect(fetched.status == 200)
        #expect(fetched.header("etag") == "\"v1\"")
        #expect(fetched.json["legal_name"] as? String == "Initech LLC")

        // The change is in the audit trail, in the same database.
        let db = try Harness.connection()
        let audit = try db.query(
            "SELECT action FROM audit_events WHERE resource_type = 'vendor' AND resource_id = \(id)")
        #expect(try audit.rows.map { try $0.decode("action", as: String.self) } == ["vendor.created"])
    }

    /// Each field's validation: (body fields, the field the 422 must name).
    nonisolated(unsafe) static let invalidBodies: [([String: Any], String)] = [
        (["name": ""], "name"),
        (["name": "   "], "name"),
        (["name": String(repeating: "x", count: 201)], "name"),
        (["name": 42], "name"),
        // One character on screen, two code points each: PostgreSQL's length() counts 202 and 404.
        (["name": String(repeating: "e\u{301}", count: 101)], "name"),
        (["name": String(repeating: "🇩🇪", count: 101)], "name"),
        (["legal_name": String(repeating: "🇩🇪", count: 151)], "legal_name"),
        (["name": NSNull()], "name"),
        (["tier": "extreme"], "tier"),
        (["tier": 1], "tier"),
        (["legal_name": String(repeating: "x", count: 301)], "legal_name"),
        (["website": "ftp://files.example"], "website"),
        (["website": "not a url"], "website"),
        (["country": "XX"], "country"),
        (["country": "USA"], "country"),
        (["country": 49], "country"),
        (["services": "payroll"], "services"),
        (["services": [""]], "services[0]"),
        (["services": Array(repeating: "s", count: 51)], "services"),
        (["status": "offboarded"], "status"),
        (["status": "gone"], "status"),
        (["owner_user_id": "not-a-uuid"], "owner_user_id"),
        (["contacts": [["name": "A"]]], "contacts[0].email"),
        (["contacts": [["email": "a@b.example"]]], "contacts[0].name"),
        (["contacts": [["name": "A", "email": "not-an-email"]]], "contacts[0].email"),
        (["contacts": [["name": "A", "email": "a@b.example", "primary": "yes"]]], "contacts[0].primary"),
        (["contacts": [["name": "A", "email": "a@b.example", "phone": "1"]]], "contacts[0].phone"),
        (["contacts": ["A"]], "contacts[0]"),
        (
            [
                "contacts": [
                    ["name": "A", "email": "a@b.example", "primary": true],
                    ["name": "B", "email": "b@b.example", "primary": true],
                ]
            ], "contacts"
        ),
        (["tags": [String(repeating: "t", count: 65)]], "tags[0]"),
        (["tags": [1]], "tags[0]"),
        (["contract": "2026"], "contract"),
        (["contract": ["start_date": "2026-02-30"]], "contract.start_date"),
        (["contract": ["renewal_date": "01/02/2026"]], "contract.renewal_date"),
        (["contract": ["notice_days": -1]], "contract.notice_days"),
        (["contract": ["notice_days": 1.5]], "contract.notice_days"),
        (["contract": ["auto_renew": "true"]], "contract.auto_renew"),
        (["contract": ["start_date": "2026-06-01", "renewal_date": "2026-01-01"]], "contract.renewal_date"),
        (["contract": ["signed": true]], "contract.signed"),
        (["colour": "blue"], "colour"),
    ]

    @Test(arguments: 0..<VendorTests.invalidBodies.count)
    func eachFieldIsValidated(index: Int) throws {
        let (fields, expectedField) = VendorTests.invalidBodies[index]
        let name = Harness.uniqueName()
        var body: [String: Any] = ["name": name, "tier": "low"]
        for (k, v) in fields { body[k] = v }
        let r = try admin.post("/v1/vendors", body)
        #expect(r.status == 422, "\(fields) → \(r.status) \(r.text)")
        #expect(r.header("content-type") == "application/problem+json")
        #expect(r.errorFields.contains(expectedField), "\(fields) → \(r.text)")
        // Nothing was written.
        let db = try Harness.connection()
        let count: Int = try db.query("SELECT count(*)::int8 AS n FROM vendors WHERE name = \(name)").first!.decode("n")
        #expect(count == 0)
    }

    @Test func missingRequiredFieldsAreAllNamed() throws {
        let r = try admin.post("/v1/vendors", [String: Any]())
        #expect(r.status == 422)
        #expect(Set(r.errorFields) == ["name", "tier"])
    }

    @Test func unknownOwnerIsA422() throws {
        let r = try admin.post(
            "/v1/vendors", ["name": Harness.uniqueName(), "tier": "low", "owner_user_id": UUID().uuidString])
        #expect(r.status == 422)
        #expect(r.errorFields == ["owner_user_id"])
    }

    @Test func namesAreUniqueCaseInsensitively() throws {
        let name = Harness.uniqueName("Umbrella")
        #expect(try admin.post("/v1/vendors", ["name": name, "tier": "low"]).status == 201)
        let again = try admin.post("/v1/vendors", ["name": name.uppercased(), "tier": "low"])
        #expect(again.status == 409)
        #expect(again.json["type"] as? String == "urn:bulwark:problem:conflict")
    }

    @Test func patchMergesAndChecksIfMatch() throws {
        let v = try create([
            "contract": ["start_date": "2026-01-01", "notice_days": 30], "legal_name": "Old Name Ltd", "tags": ["a"],
        ])
        let id = v["id"] as! String
        let stale = try admin.patch("/v1/vendors/\(id)", ["tier": "low"], headers: [("If-Match", "\"v9\"")])
        #expect(stale.status == 412)
        #expect(try admin.get("/v1/vendors/\(id)").json["tier"] as? String == "high")

        let ok = try admin.patch(
            "/v1/vendors/\(id)", ["tier": "low", "legal_name": NSNull(), "contract": ["renewal_date": "2027-01-01"]],
            headers: [("If-Match", "\"v1\"")])
        #expect(ok.status == 200, "\(ok.text)")
        #expect(ok.header("etag") == "\"v2\"")
        #expect(ok.json["tier"] as? String == "low")
        #expect(ok.json["legal_name"] is NSNull)
        let contract = ok.json["contract"] as! [String: Any]
        #expect(contract["start_date"] as? String == "2026-01-01")
        #expect(contract["renewal_date"] as? String == "2027-01-01")
        #expect(contract["notice_days"] as? Int == 30)
        #expect(ok.json["tags"] as? [String] == ["a"])

        // The merged contract is validated as a whole.
        let backwards = try admin.patch("/v1/vendors/\(id)", ["contract": ["renewal_date": "2025-01-01"]])
        #expect(backwards.status == 422)
        #expect(backwards.errorFields == ["contract.renewal_date"])

        // Merge-patch media type is accepted; text is not.
        let merge = try admin.request(
            "PATCH", "/v1/vendors/\(id)", raw: #"{"contract": null}"#, contentType: "application/merge-patch+json")
        #expect(merge.status == 200)
        #expect((merge.json["contract"] as! [String: Any])["start_date"] is NSNull)
        let text = try admin.request("PATCH", "/v1/vendors/\(id)", raw: "tier=low", contentType: "text/plain")
        #expect(text.status == 415)

        let audit = try Harness.connection().query(
            "SELECT changes FROM audit_events WHERE resource_id = \(id) AND action = 'vendor.updated' ORDER BY id LIMIT 1"
        )
        let changes = try audit.first!.decode("changes", as: String.self)
        #expect(changes.contains("\"tier\""))
        #expect(changes.contains("\"before\""))
    }

    @Test func deleteIsSoftAndChecksIfMatch() throws {
        let v = try create()
        let id = v["id"] as! String
        #expect(try admin.delete("/v1/vendors/\(id)", headers: [("If-Match", "\"v7\"")]).status == 412)
        #expect(try admin.delete("/v1/vendors/\(id)", headers: [("If-Match", "\"v1\"")]).status == 204)
        let after = try admin.get("/v1/vendors/\(id)")
        #expect(after.status == 200)
        #expect(after.json["status"] as? String == "offboarded")
        #expect(after.json["deleted_at"] is String)
        #expect(try admin.delete("/v1/vendors/\(id)").status == 409)
        #expect(try admin.patch("/v1/vendors/\(id)", ["tier": "low"]).status == 409)
        // Hidden from the list unless asked for; its name is free again.
        let tagless = try admin.get(
            "/v1/vendors?q=\((v["name"] as! String).replacingOccurrences(of: " ", with: "%20"))")
        #expect((tagless.json["items"] as! [Any]).isEmpty)
        #expect(try admin.post("/v1/vendors", ["name": v["name"]!, "tier": "low"]).status == 201)
    }

    @Test func unknownAndMalformedIdsAre404() throws {
        #expect(try admin.get("/v1/vendors/\(UUID().uuidString)").status == 404)
        #expect(try admin.get("/v1/vendors/not-a-uuid").status == 404)
        #expect(try admin.patch("/v1/vendors/\(UUID().uuidString)", ["tier": "low"]).status == 404)
        #expect(try admin.delete("/v1/vendors/\(UUID().uuidString)").status == 404)
    }

    @Test func listFiltersAndRejectsBadParameters() throws {
        let tag = "t-\(UUID().uuidString.prefix(8).lowercased())"
        let a = try create(["tier": "critical", "tags": [tag], "status": "active"])
        _ = try create(["tier": "low", "tags": [tag]])
        let critical = try admin.get("/v1/vendors?tag=\(tag)&tier=critical")
        #expect((critical.json["items"] as! [[String: Any]]).map { $0["id"] as! String } == [a["id"] as! String])
        let active = try admin.get("/v1/vendors?tag=\(tag)&status=active")
        #expect((active.json["items"] as! [Any]).count == 1)
        let all = try admin.get("/v1/vendors?tag=\(tag)")
        #expect((all.json["items"] as! [Any]).count == 2)
        let search = try admin.get("/v1/vendors?q=\(((a["name"] as! String).suffix(13)).lowercased())")
        #expect((search.json["items"] as! [[String: Any]]).map { $0["id"] as! String } == [a["id"] as! String])
        // LIKE wildcards are literal.
        #expect((try admin.get("/v1/vendors?q=%25%25%25&tag=\(tag)").json["items"] as! [Any]).isEmpty)

        // Forged cursors (numbers no server wrote, dates beyond any calendar) are a 422, never a crash.
        func b64(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let someID = UUID().uuidString
        for (path, forged) in [
            ("/v1/vendors?", "created\u{0}1e300\u{0}\(someID)"), ("/v1/vendors?", "created\u{0}nan\u{0}\(someID)"),
            ("/v1/vendors?", "created\u{0}-inf\u{0}\(someID)"),
            ("/v1/vendors?sort=score&", "score\u{0}1e300\u{0}\(someID)"),
            ("/v1/users?", "9223372036854775807|\(someID)"), ("/v1/users?", "-9223372036854775808|\(someID)"),
            ("/v1/assessments?", "9223372036854775807|\(someID)"),
            ("/v1/audit-events?", "-9223372036854775808|\(someID)"),
        ] {
            let r = try admin.get("\(path)cursor=\(b64(forged))")
            #expect(r.status == 422, "\(path) \(forged): \(r.status) \(r.text)")
        }
        #expect(try admin.get("/v1/vendors?limit=1").status == 200)

        for bad in [
            "limit=0", "limit=201", "limit=ten", "cursor=nonsense", "tier=huge", "status=x", "include_deleted=maybe",
            "teir=low",
        ] {
            let r = try admin.get("/v1/vendors?\(bad)")
            #expect(r.status == 422, "\(bad)")
            #expect(r.errorFields == [String(bad.split(separator: "=")[0])], "\(bad): \(r.text)")
        }
    }

    @Test func paginationReturnsEveryRowExactlyOnceWhileRowsAreInserted() throws {
        let tag = "page-\(UUID().uuidString.prefix(8).lowercased())"
        var existing = Set<String>()
        for _ in 0..<23 { existing.insert(try create(["tags": [tag]])["id"] as! String) }
        let inserter = Thread {
            for _ in 0..<15 { _ = try? self.create(["tags": [tag]]) }
        }
        inserter.start()
        var seen: [String] = []
        var cursor: String?
        repeat {
            var path = "/v1/vendors?tag=\(tag)&limit=4"
            if let cursor { path += "&cursor=\(cursor)" }
            let page = try admin.get(path)
            #expect(page.status == 200)
            seen += (page.json["items"] as! [[String: Any]]).map { $0["id"] as! String }
            cursor = page.json["next_cursor"] as? String
            usleep(2_000)
        } while cursor != nil
        #expect(seen.count == Set(seen).count, "no row twice")
        #expect(existing.isSubset(of: Set(seen)), "every row that existed before is there")
    }

    /// Paging by name agrees with PostgreSQL's lower() even where Swift lowercases differently (İ, ẞ), and a
    /// cursor after a long name in four-byte characters is still one this server accepts.
    @Test func namePagingVisitsEveryVendorOnceWhateverTheLetters() throws {
        let tag = "names-\(UUID().uuidString.prefix(8).lowercased())"
        let suffix = UUID().uuidString.prefix(6)
        let names = [
            "İstanbul Cloud \(suffix)", "istanbul Backup \(suffix)", "ẞtrasse Systems \(suffix)",
            "Strasse Data \(suffix)", "Ωmega \(suffix)", "alpha \(suffix)", "Zulu \(suffix)",
            String(repeating: "𝔘", count: 190) + "\(suffix)",
        ]
        var ids = Set<String>()
        for n in names { ids.insert(try create(["name": n, "tags": [tag]])["id"] as! String) }
        for sort in ["name", "-name"] {
            var seen: [String] = []
            var cursor: String?
            repeat {
                var path = "/v1/vendors?tag=\(tag)&sort=\(sort)&limit=1"
                if let cursor { path += "&cursor=\(cursor)" }
                let page = try admin.get(path)
                #expect(page.status == 200, "\(sort): \(page.text)")
                guard page.status == 200 else { break }
                seen += (page.json["items"] as! [[String: Any]]).map { $0["id"] as! String }
                cursor = page.json["next_cursor"] as? String
            } while cursor != nil && seen.count <= names.count
            #expect(seen.count == names.count && Set(seen) == ids, "\(sort): \(seen.count) of \(names.count)")
        }
    }

    @Test func readersCanReadButNotWrite() throws {
        let v = try create()
        let id = v["id"] as! String
        for role in [Role.auditor, .riskAnalyst] {
            let c = try Harness.client(role: role)
            #expect(try c.get("/v1/vendors/\(id)").status == 200)
            #expect(try c.get("/v1/vendors").status == 200)
            let denied = try c.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"])
            #expect(denied.status == 403)
            #expect(denied.json["type"] as? String == "urn:bulwark:problem:forbidden")
            #expect(try c.patch("/v1/vendors/\(id)", ["tier": "low"]).status == 403)
            #expect(try c.delete("/v1/vendors/\(id)").status == 403)
        }
        let procurement = try Harness.client(role: .procurement)
        #expect(try procurement.patch("/v1/vendors/\(id)", ["tier": "low"]).status == 200)
    }

    @Test func vendorUsersSeeOnlyTheirOwnVendor() throws {
        let mine = try create()
        let other = try create()
        let mineID = mine["id"] as! String
        let otherID = other["id"] as! String
        let vendorUser = try Harness.client(role: .vendor, vendorID: UUID(uuidString: mineID))
        #expect(try vendorUser.get("/v1/vendors/\(mineID)").status == 200)
        let hidden = try vendorUser.get("/v1/vendors/\(otherID)")
        let missing = try vendorUser.get("/v1/vendors/\(UUID().uuidString.lowercased())")
        #expect(hidden.status == 404)
        #expect(hidden.json["detail"] as? String == missing.json["detail"] as? String)
        let list = try vendorUser.get("/v1/vendors?limit=200")
        #expect((list.json["items"] as! [[String: Any]]).map { $0["id"] as! String } == [mineID])
        #expect(try vendorUser.patch("/v1/vendors/\(mineID)", ["tier": "low"]).status == 403)
        // Another vendor's profile stays a 404 whatever the body asks, never a 403 that would confirm it exists.
        let foreignPatch = try vendorUser.patch("/v1/vendors/\(otherID)", ["tier": "low"])
        #expect(foreignPatch.status == 404)
        #expect(foreignPatch.json["detail"] as? String == missing.json["detail"] as? String)
    }
}
