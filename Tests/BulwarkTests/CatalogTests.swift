import Bulwark
import Foundation
import Postgres
import Testing

/// Frameworks (requirement catalogs) and questionnaire templates over HTTP.
@Suite struct CatalogTests {
    let analyst: Client
    init() throws { analyst = try Harness.client(role: .riskAnalyst) }

    static func shipped(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Harness.home + "/catalog/" + name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func smallCatalog(key: String = "test-\(UUID().uuidString.prefix(8).lowercased())") -> [String: Any] {
        [
            "key": key, "name": "Test catalog", "version": "1", "description": "for tests",
            "requirements": [
                [
                    "ref": "T-01", "title": "Backups are restored", "description": "d", "principle": "recover_urgently",
                    "severity": "critical", "weight": 2, "must_pass": true,
                    "evidence": ["required": true, "kinds": ["backup_restore_report"], "max_age_days": 180],
                    "remediation": "Restore a backup every quarter.",
                    "mappings": [["framework": "dora", "ref": "Art.12"]],
                ],
                ["ref": "T-02", "title": "Timeouts", "principle": "integrate_defensively", "severity": "medium"],
            ],
        ]
    }

    func importCatalog(_ body: [String: Any]) throws -> String {
        let r = try analyst.post("/v1/frameworks", body)
        #expect(r.status == 201, "\(r.text)")
        return try #require(r.json["id"] as? String)
    }

    func export(_ id: String) throws -> [String: Any] {
        let r = try analyst.get("/v1/frameworks/\(id)?format=export")
        #expect(r.status == 200)
        return r.json
    }

    @Test func importExportImportIsTheIdentity() throws {
        var catalog = try CatalogTests.shipped("resilience-v1.json")
        catalog["key"] = "roundtrip-\(UUID().uuidString.prefix(8).lowercased())"
        let first = try export(try importCatalog(catalog))
        #expect(NSDictionary(dictionary: first).isEqual(to: catalog), "export gives back exactly what was imported")
        var again = first
        again["version"] = "2"
        let second = try export(try importCatalog(again))
        #expect(NSDictionary(dictionary: second).isEqual(to: again))
        // Defaults are filled in, and the result is importable as is.
        let small = try export(try importCatalog(smallCatalog()))
        let reqs = small["requirements"] as! [[String: Any]]
        #expect(reqs[1]["weight"] as? Double == 1)
        #expect(reqs[1]["must_pass"] as? Bool == false)
        #expect((reqs[1]["evidence"] as? [String: Any])?["required"] as? Bool == false)
    }

    @Test func aRepeatedKeyAndVersionIs409() throws {
        let body = smallCatalog()
        _ = try importCatalog(body)
        #expect(try analyst.post("/v1/frameworks", body).status == 409)
    }

    static let badCatalogs: [(String, String)] = [
        (#"{"key": "Bad Key"}"#, "key"),
        (#"{"requirements": []}"#, "requirements"),
        (
            #"{"requirements": [{"ref": "A", "title": "t", "principle": "be_lucky", "severity": "high"}]}"#,
            "requirements[0].principle"
        ),
        (
            #"{"requirements": [{"ref": "A", "title": "t", "principle": "run_cautiously", "severity": "urgent"}]}"#,
            "requirements[0].severity"
        ),
        (
            #"{"requirements": [{"ref": "A", "title": "t", "principle": "run_cautiously", "severity": "high"}, {"ref": "A", "title": "u", "principle": "run_cautiously", "severity": "high"}]}"#,
            "requirements[1].ref"
        ),
        (
            #"{"requirements": [{"ref": "A", "title": "t", "principle": "run_cautiously", "severity": "high", "weight": 0}]}"#,
            "requirements[0].weight"
        ),
        (
            #"{"requirements": [{"ref": "A", "title": "t", "principle": "run_cautiously", "severity": "high", "evidence": {"required": true, "max_age_days": 0}}]}"#,
            "requirements[0].evidence.max_age_days"
        ),
        (
            #"{"requirements": [{"ref": "A", "title": "t", "principle": "run_cautiously", "severity": "high", "mappings": [{"framework": "dora"}]}]}"#,
            "requirements[0].mappings[0].ref"
        ),
        (
            #"{"requirements": [{"title": "t", "principle": "run_cautiously", "severity": "high"}]}"#,
            "requirements[0].ref"
        ),
    ]

    @Test(arguments: 0..<CatalogTests.badCatalogs.count)
    func catalogValidationNamesTheFirstBadPath(index: Int) throws {
        let (override, field) = CatalogTests.badCatalogs[index]
        var body = smallCatalog()
        let patch = try JSONSerialization.jsonObject(with: Data(override.utf8)) as! [String: Any]
        for (k, v) in patch { body[k] = v }
        let key = body["key"] as! String
        let r = try analyst.post("/v1/frameworks", body)
        #expect(r.status == 422, "\(r.text)")
        #expect(r.errorFields.first == field, "\(r.text)")
        #expect((r.json["detail"] as? String)?.hasPrefix(field) == true)
        // All or nothing: no framework row was left behind.
        let n: Int = try Harness.connection().query("SELECT count(*)::int8 AS n FROM frameworks WHERE key = \(key)")
            .first!.decode("n")
        #expect(n == 0)
    }

    @Test func requirementsAreListedAndFiltered() throws {
        let id = try importCatalog(smallCatalog())
        let all = try analyst.get("/v1/frameworks/\(id)/requirements")
        #expect((all.json["items"] as? [[String: Any]])?.map { $0["ref"] as? String } == ["T-01", "T-02"])
        let critical = try analyst.get("/v1/frameworks/\(id)/requirements?severity=critical&principle=recover_urgently")
        #expect((critical.json["items"] as? [[String: Any]])?.count == 1)
        #expect(try analyst.get("/v1/frameworks/\(id)/requirements?principle=luck").status == 422)
        #expect(try analyst.get("/v1/frameworks/\(UUID().uuidString)/requirements").status == 404)
        let vendorID: UUID = try Harness.connection().query("SELECT id FROM vendors LIMIT 1").first!.decode("id")
        #expect(try Harness.client(role: .vendor, vendorID: vendorID).get("/v1/frameworks").status == 403)
        #expect(try Harness.client(role: .procurement).post("/v1/frameworks", smallCatalog()).status == 403)
    }

    @Test func theShippedCatalogAndQuestionnaireCoverEachOther() throws {
        let db = try Harness.connection()
        let frameworkID: UUID = try db.query(
            "SELECT id FROM frameworks WHERE key = 'resilience-v1' AND version = '1.0.0'"
        )
        .first!.decode("id")
        let requirements =
            try analyst.get("/v1/frameworks/\(frameworkID.uuidString)/requirements")
            .json["items"] as! [[String: Any]]
        #expect(requirements.count >= 40)
        #expect(Set(requirements.map { $0["principle"] as! String }).count == 8)
        #expect(requirements.allSatisfy { !(($0["remediation"] as? String) ?? "").isEmpty })
        let refs = Set(requirements.map { $0["ref"] as! String })

        let list = try analyst.get("/v1/questionnaires?family_id=\(Seed.defaultQuestionnaireFamily.uuidString)")
        let summary = try #require((list.json["items"] as? [[String: Any]])?.first)
        #expect(summary["status"] as? String == "published")
        #expect(summary["name"] as? String == "Vendor Resilience Assessment")
        let q = try analyst.get("/v1/questionnaires/\(summary["id"] as! String)").json
        let questions = (q["sections"] as! [[String: Any]]).flatMap { $0["questions"] as! [[String: Any]] }
        #expect((40...70).contains(questions.count))
        // Every requirement can be assessed: a scored question (not only an evidence or text one) maps to it.
        let scoredTypes: Set<String> = ["yes_no", "single_choice", "multi_choice", "number"]
        let mapped = Set(
            questions.filter { scoredTypes.contains($0["type"] as? String ?? "") }
                .flatMap { ($0["requirements"] as! [[String: Any]]).map { $0["ref"] as! String } })
        #expect(refs.subtracting(mapped).isEmpty, "requirements no scored question maps: \(refs.subtracting(mapped))")
        // Mappings name only the public references the catalog is allowed to cite, by their identifiers.
        let allowed: [String: Regex<Substring>] = [
            "dora": /Art\.(?:11|12|24|25|26|27|28|30)/,
            "iso27001-2022": /A\.5\.(?:19|20|21|22|23|29|30)/,
            "nist-800-53": /(?:CP|IR|SR)-[1-9][0-9]?/,
            "aws-well-architected": /REL (?:[1-9]|1[0-3])/,
        ]
        for r in requirements {
            for m in r["mappings"] as? [[String: Any]] ?? [] {
                let framework = m["framework"] as? String ?? ""
                let ref = m["ref"] as? String ?? ""
                let pattern = try #require(allowed[framework], "\(r["ref"] ?? "") maps to \(framework)")
                #expect(ref.wholeMatch(of: pattern) != nil, "\(r["ref"] ?? ""): \(framework) \(ref)")
            }
        }
        // The few things a critical vendor cannot lack are must-pass.
        let mustPass = requirements.filter { $0["must_pass"] as? Bool == true }
        #expect((4...12).contains(mustPass.count), "\(mustPass.count) must-pass requirements")
        #expect(Set(mustPass.map { $0["principle"] as! String }).contains("recover_urgently"))
        let numbers = questions.filter { $0["type"] as? String == "number" }.map { $0["key"] as! String }
        #expect(numbers.contains { $0.contains("rto") } && numbers.contains { $0.contains("rpo") })
        // Every requirement that demands evidence has an evidence question mapped to it.
        let needsEvidence = Set(
            requirements.filter { ($0["evidence"] as! [String: Any])["required"] as! Bool }.map { $0["ref"] as! String }
        )
        let evidenceMapped = Set(
            questions.filter { $0["type"] as? String == "evidence" }
                .flatMap { ($0["requirements"] as! [[String: Any]]).map { $0["ref"] as! String } })
        #expect(needsEvidence.subtracting(evidenceMapped).isEmpty)
    }

    // MARK: questionnaires

    func question(_ key: String, _ extra: [String: Any] = [:]) -> [String: Any] {
        var q: [String: Any] = [
            "key": key, "text": "Question \(key)?", "type": "yes_no", "requirements": [["ref": "T-01"]],
        ]
        for (k, v) in extra { q[k] = v }
        return q
    }

    func questionnaire(frameworkID: String, questions: [[String: Any]]) -> [String: Any] {
        [
            "name": "Q \(UUID().uuidString.prefix(6))", "framework_id": frameworkID,
            "sections": [["key": "main", "title": "Main", "questions": questions]],
        ]
    }

    @Test func draftsChangeAndPublishedVersionsDoNot() throws {
        let fid = try importCatalog(smallCatalog())
        let created = try analyst.post(
            "/v1/questionnaires",
            questionnaire(
                frameworkID: fid,
                questions: [
                    question("uses_backups"),
                    question(
                        "rto_hours",
                        [
                            "type": "number", "range": ["min": 0, "max": 1000],
                            "scoring": [
                                "thresholds": [["lte": 4, "score": 1], ["lte": 24, "score": 0.5]], "otherwise": 0,
                            ],
                            "show_if": ["question": "uses_backups", "equals": "yes"],
                        ]),
                ]))
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"] as? String)
        #expect(created.json["status"] as? String == "draft")
        #expect(created.json["version"] as? Int == 1)
        #expect(created.header("etag") == "\"r1\"")

        let renamed = try analyst.patch(
            "/v1/questionnaires/\(id)", ["name": "Renamed"], headers: [("If-Match", "\"r1\"")])
        #expect(renamed.status == 200)
        #expect(renamed.header("etag") == "\"r2\"")
        #expect(
            try analyst.patch("/v1/questionnaires/\(id)", ["name": "Stale"], headers: [("If-Match", "\"r1\"")]).status
                == 412)

        let published = try analyst.request("POST", "/v1/questionnaires/\(id)/publish")
        #expect(published.status == 200)
        #expect(published.json["status"] as? String == "published")
        #expect(published.json["published_at"] is String)
        #expect(try analyst.patch("/v1/questionnaires/\(id)", ["name": "Too late"]).status == 409)
        #expect(try analyst.request("POST", "/v1/questionnaires/\(id)/publish").status == 409)
        // The database refuses it too, whoever asks.
        #expect(throws: PostgresError.self) {
            try Harness.connection().execute(
                "UPDATE questionnaires SET name = 'sneaky' WHERE id = \(UUID(uuidString: id)!)")
        }

        let next = try analyst.request("POST", "/v1/questionnaires/\(id)/versions")
        #expect(next.status == 201, "\(next.text)")
        #expect(next.json["version"] as? Int == 2)
        #expect(next.json["status"] as? String == "draft")
        #expect(next.json["family_id"] as? String == created.json["family_id"] as? String)
        #expect(try analyst.request("POST", "/v1/questionnaires/\(id)/versions").status == 409, "one open draft")
        let v2 = next.json["id"] as! String
        #expect(try analyst.patch("/v1/questionnaires/\(v2)", ["description": "v2"]).status == 200)
        #expect(try analyst.get("/v1/questionnaires/\(id)").json["name"] as? String == "Renamed", "v1 unchanged")
    }

    /// (a change to a valid questionnaire, the field the 422 must name)
    static let badQuestionnaires: [(String, String)] = [
        ("unknown ref", "sections[0].questions[0].requirements[0].ref"),
        ("duplicate key", "sections[0].questions[1].key"),
        ("score out of range", "sections[0].questions[0].options[1].score"),
        ("show_if later", "sections[0].questions[0].show_if.question"),
        ("show_if missing", "sections[0].questions[1].show_if.question"),
        ("show_if impossible yes_no value", "sections[0].questions[1].show_if.equals"),
        ("show_if value not an option", "sections[0].questions[1].show_if.in[1]"),
        ("show_if number as text", "sections[0].questions[1].show_if.equals"),
        ("show_if na without allow_na", "sections[0].questions[1].show_if.equals"),
        ("number without scoring", "sections[0].questions[0].scoring"),
        ("choice without options", "sections[0].questions[0].options"),
        ("empty section", "sections[0].questions"),
        ("no sections", "sections"),
        ("options on yes_no", "sections[0].questions[0].options"),
        ("bad framework", "framework_id"),
    ]

    @Test(arguments: 0..<CatalogTests.badQuestionnaires.count)
    func questionnaireValidationErrorsArePrecise(index: Int) throws {
        let (what, field) = CatalogTests.badQuestionnaires[index]
        let fid = try importCatalog(smallCatalog())
        let choice: [String: Any] = [
            "type": "single_choice",
            "options": [["value": "a", "label": "A", "score": 1], ["value": "b", "label": "B", "score": 1.5]],
        ]
        var body: [String: Any]
        switch what {
        case "unknown ref":
            body = questionnaire(frameworkID: fid, questions: [question("a", ["requirements": [["ref": "NOPE"]]])])
        case "duplicate key": body = questionnaire(frameworkID: fid, questions: [question("a"), question("a")])
        case "score out of range": body = questionnaire(frameworkID: fid, questions: [question("a", choice)])
        case "show_if later":
            body = questionnaire(
                frameworkID: fid,
                questions: [question("a", ["show_if": ["question": "b", "equals": "yes"]]), question("b")])
        case "show_if missing":
            body = questionnaire(
                frameworkID: fid,
                questions: [question("a"), question("b", ["show_if": ["question": "zzz", "answered": true]])])
        case "show_if impossible yes_no value":
            body = questionnaire(
                frameworkID: fid,
                questions: [question("a"), question("b", ["show_if": ["question": "a", "equals": "maybe"]])])
        case "show_if value not an option":
            let options: [String: Any] = [
                "type": "single_choice",
                "options": [["value": "x", "label": "X", "score": 1], ["value": "y", "label": "Y", "score": 0]],
            ]
            body = questionnaire(
                frameworkID: fid,
                questions: [question("a", options), question("b", ["show_if": ["question": "a", "in": ["x", "z"]]])])
        case "show_if number as text":
            let number: [String: Any] = ["type": "number", "scoring": ["thresholds": [["lte": 4, "score": 1]]]]
            body = questionnaire(
                frameworkID: fid,
                questions: [question("a", number), question("b", ["show_if": ["question": "a", "equals": "4"]])])
        case "show_if na without allow_na":
            let text: [String: Any] = ["type": "text", "required": false, "requirements": [[String: Any]]()]
            body = questionnaire(
                frameworkID: fid,
                questions: [
                    question("a", text), question("b", ["show_if": ["question": "a", "equals": "na"]]),
                ])
        case "number without scoring":
            body = questionnaire(frameworkID: fid, questions: [question("a", ["type": "number"])])
        case "choice without options":
            body = questionnaire(frameworkID: fid, questions: [question("a", ["type": "multi_choice"])])
        case "empty section": body = questionnaire(frameworkID: fid, questions: [])
        case "no sections":
            body = questionnaire(frameworkID: fid, questions: [question("a")])
            body["sections"] = [Any]()
        case "options on yes_no":
            body = questionnaire(
                frameworkID: fid, questions: [question("a", ["options": [["value": "x", "label": "X", "score": 1]]])])
        default: body = questionnaire(frameworkID: UUID().uuidString, questions: [question("a")])
        }
        let r = try analyst.post("/v1/questionnaires", body)
        #expect(r.status == 422, "\(what): \(r.text)")
        #expect(r.errorFields.contains(field), "\(what): \(r.text)")
    }

    @Test func vendorUsersSeePublishedQuestionsWithoutScoring() throws {
        let db = try Harness.connection()
        let published: UUID = try db.query(
            "SELECT id FROM questionnaires WHERE family_id = \(Seed.defaultQuestionnaireFamily) AND status = 'published'"
        ).first!.decode("id")
        let vendorID: UUID = try db.query("SELECT id FROM vendors LIMIT 1").first!.decode("id")
        let vendor = try Harness.client(role: .vendor, vendorID: vendorID)
        let r = try vendor.get("/v1/questionnaires/\(published.uuidString)")
        #expect(r.status == 200)
        let questions = (r.json["sections"] as! [[String: Any]]).flatMap { $0["questions"] as! [[String: Any]] }
        #expect(!questions.isEmpty)
        for q in questions {
            #expect(q["scoring"] == nil && q["requirements"] == nil, "\(q["key"] ?? "")")
            for o in q["options"] as? [[String: Any]] ?? [] { #expect(o["score"] == nil) }
        }
        #expect(questions.contains { $0["show_if"] is [String: Any] })
        #expect(questions.contains { !($0["help"] as? String ?? "").isEmpty })
        #expect(!r.text.contains("\"score\""))
        #expect(!r.text.contains("\"weight\""))
        // Staff see the scoring.
        #expect(try analyst.get("/v1/questionnaires/\(published.uuidString)").text.contains("\"score\""))

        let fid = try importCatalog(smallCatalog())
        let draft = try analyst.post("/v1/questionnaires", questionnaire(frameworkID: fid, questions: [question("a")]))
        #expect(try vendor.get("/v1/questionnaires/\(draft.json["id"] as! String)").status == 404)
        let list = try vendor.get("/v1/questionnaires?limit=200")
        #expect((list.json["items"] as? [[String: Any]] ?? []).allSatisfy { $0["status"] as? String == "published" })
        #expect(
            try vendor.post("/v1/questionnaires", questionnaire(frameworkID: fid, questions: [question("b")])).status
                == 403)
    }
}
