import Bulwark
import Foundation
import Postgres
import Testing

/// Assessments over HTTP: the state machine, answers, submission, review and the score.
@Suite struct AssessmentTests {
    let admin: Client
    let reviewer: Client
    init() throws {
        admin = try Harness.client(role: .admin)
        reviewer = try Harness.client(role: .procurement)
    }

    var today: String { String(Timestamp.rfc3339(Date()).prefix(10)) }
    var nextMonth: String { String(Timestamp.rfc3339(Date().addingTimeInterval(30 * 86_400)).prefix(10)) }

    func vendor(tier: String = "high") throws -> String {
        try #require(
            try admin.post("/v1/vendors", ["name": Harness.uniqueName("Assessed"), "tier": tier]).json["id"] as? String)
    }

    /// A small published questionnaire on resilience-v1: two required yes/no questions, a number with a
    /// range, a choice that allows N/A, and one shown only when the first is yes.
    func smallQuestionnaire() throws -> String {
        let frameworkID = try #require(
            try admin.get("/v1/frameworks?key=resilience-v1").json["items"].flatMap {
                ($0 as? [[String: Any]])?.first?["id"] as? String
            })
        let body: [String: Any] = [
            "name": "Small", "framework_id": frameworkID,
            "sections": [
                [
                    "key": "s", "title": "S",
                    "questions": [
                        [
                            "key": "backups", "text": "Backups?", "type": "yes_no",
                            "requirements": [["ref": "RR-REC-04"]],
                        ],
                        [
                            "key": "oncall", "text": "On-call?", "type": "yes_no",
                            "requirements": [["ref": "RR-REC-05"]],
                        ],
                        [
                            "key": "rto", "text": "RTO hours?", "type": "number", "range": ["min": 0, "max": 100],
                            "scoring": ["thresholds": [["lte": 4, "score": 1]], "otherwise": 0.3],
                            "requirements": [["ref": "RR-REC-01"]],
                        ],
                        [
                            "key": "drill", "text": "How often?", "type": "single_choice", "allow_na": true,
                            "required": false,
                            "options": [
                                ["value": "monthly", "label": "Monthly", "score": 1],
                                ["value": "never", "label": "Never", "score": 0],
                            ],
                            "requirements": [["ref": "RR-REC-04"]],
                            "show_if": ["question": "backups", "equals": "yes"],
                        ],
                        ["key": "notes", "text": "Anything else?", "type": "text", "required": false],
                        ["key": "last_drill", "text": "Last DR drill?", "type": "date", "required": false],
                    ],
                ]
            ],
        ]
        let created = try admin.post("/v1/questionnaires", body)
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        #expect(try admin.request("POST", "/v1/questionnaires/\(id)/publish").status == 200)
        return id
    }

    func assessment(vendorID: String, questionnaireID: String) throws -> String {
        let r = try reviewer.post(
            "/v1/assessments", ["vendor_id": vendorID, "questionnaire_id": questionnaireID, "due_date": nextMonth])
        #expect(r.status == 201, "\(r.text)")
        return try #require(r.json["id"] as? String)
    }

    let complete: [String: Any] = [
        "answers": ["backups": ["value": "yes"], "oncall": ["value": "no"], "rto": ["value": 2]]
    ]

    @Test func creationIsValidated() throws {
        let v = try vendor()
        let q = try smallQuestionnaire()
        let missing = try reviewer.post("/v1/assessments", [String: Any]())
        #expect(missing.status == 422)
        #expect(Set(missing.errorFields) == ["vendor_id", "questionnaire_id", "due_date"])
        #expect(
            try reviewer.post("/v1/assessments", ["vendor_id": v, "questionnaire_id": q, "due_date": "2020-01-01"])
                .errorFields == ["due_date"])
        #expect(
            try reviewer.post(
                "/v1/assessments", ["vendor_id": UUID().uuidString, "questionnaire_id": q, "due_date": nextMonth]
            )
            .errorFields == ["vendor_id"])
        let draftID = try #require(try admin.request("POST", "/v1/questionnaires/\(q)/versions").json["id"] as? String)
        #expect(
            try reviewer.post("/v1/assessments", ["vendor_id": v, "questionnaire_id": draftID, "due_date": nextMonth])
                .errorFields == ["questionnaire_id"])
        #expect(
            try Harness.client(role: .auditor).post(
                "/v1/assessments", ["vendor_id": v, "questionnaire_id": q, "due_date": nextMonth]
            )
            .status == 403)
    }

    /// Drives a fresh assessment to `status`.
    func assessment(in status: String, vendorID: String, questionnaireID: String) throws -> String {
        let id = try assessment(vendorID: vendorID, questionnaireID: questionnaireID)
        func ok(_ r: HTTPResponse) { #expect(r.status == 200, "\(r.text)") }
        switch status {
        case "in_progress": break
        case "cancelled": ok(try reviewer.request("POST", "/v1/assessments/\(id)/cancel"))
        default:
            ok(try reviewer.patch("/v1/assessments/\(id)/answers", complete))
            ok(try reviewer.request("POST", "/v1/assessments/\(id)/submit"))
            if status == "returned" { ok(try reviewer.post("/v1/assessments/\(id)/review", ["decision": "return"])) }
            if status == "approved" { ok(try reviewer.post("/v1/assessments/\(id)/review", ["decision": "approve"])) }
        }
        #expect(try reviewer.get("/v1/assessments/\(id)").json["status"] as? String == status)
        return id
    }

    @Test func theWholeStateMachine() throws {
        let v = try vendor()
        let q = try smallQuestionnaire()
        // status → (submit, approve, return, cancel, answer) allowed?
        let table: [(String, [Bool])] = [
            ("in_progress", [true, false, false, true, true]),
            ("submitted", [false, true, true, true, false]),
            ("returned", [true, false, false, true, true]),
            ("approved", [false, false, false, false, false]),
            ("cancelled", [false, false, false, false, false]),
        ]
        for (status, allowed) in table {
            let moves: [(String, (String) throws -> HTTPResponse)] = [
                ("submit", { try self.reviewer.request("POST", "/v1/assessments/\($0)/submit") }),
                ("approve", { try self.reviewer.post("/v1/assessments/\($0)/review", ["decision": "approve"]) }),
                (
                    "return",
                    { try self.reviewer.post("/v1/assessments/\($0)/review", ["decision": "return", "comment": "c"]) }
                ),
                ("cancel", { try self.reviewer.request("POST", "/v1/assessments/\($0)/cancel") }),
                (
                    "answer",
                    { try self.reviewer.request("PUT", "/v1/assessments/\($0)/answers/rto", json: ["value": 3]) }
                ),
            ]
            for ((name, move), ok) in zip(moves, allowed) {
                let id = try assessment(in: status, vendorID: v, questionnaireID: q)
                if name == "submit" && status == "in_progress" {
                    _ = try reviewer.patch("/v1/assessments/\(id)/answers", complete)
                }
                let r = try move(id)
                if ok {
                    #expect(r.status == 200, "\(name) from \(status): \(r.text)")
                } else {
                    #expect(r.status == 409, "\(name) from \(status): \(r.status) \(r.text)")
                    #expect((r.json["detail"] as? String)?.contains(status) == true, "the 409 names the current status")
                }
            }
        }
        // Every transition is timestamped and audited.
        let id = try assessment(in: "approved", vendorID: v, questionnaireID: q)
        let a = try reviewer.get("/v1/assessments/\(id)").json
        #expect(a["submitted_at"] is String && a["approved_at"] is String && a["cancelled_at"] is NSNull)
        let actions = try Harness.connection().query(
            "SELECT action FROM audit_events WHERE resource_type = 'assessment' AND resource_id = \(id) ORDER BY seq"
        ).rows.map { try $0.decode("action", as: String.self) }
        #expect(
            actions == ["assessment.created", "assessment.answered", "assessment.submitted", "assessment.approved"])
    }

    @Test func answersAreValidatedAgainstTheirQuestion() throws {
        let id = try assessment(vendorID: try vendor(), questionnaireID: try smallQuestionnaire())
        let bad: [(String, Any, String)] = [
            ("backups", "maybe", "answers.backups.value"),
            ("backups", "na", "answers.backups.value"),
            ("rto", 101, "answers.rto.value"),
            ("rto", "4", "answers.rto.value"),
            ("drill", "weekly", "answers.drill.value"),
            ("notes", "", "answers.notes.value"),
            ("notes", "before\u{0}after", "answers.notes.value"),
            ("notes", "bell\u{7}", "answers.notes.value"),
            ("last_drill", "2025-02-30", "answers.last_drill.value"),
            ("last_drill", "tomorrow", "answers.last_drill.value"),
            ("last_drill", "2025-6-1", "answers.last_drill.value"),
            ("last_drill", 20_250_601, "answers.last_drill.value"),
        ]
        for (key, value, field) in bad {
            let r = try reviewer.request("PUT", "/v1/assessments/\(id)/answers/\(key)", json: ["value": value])
            #expect(r.status == 422, "\(key)=\(value): \(r.text)")
            #expect(r.errorFields == [field], "\(r.text)")
        }
        #expect(try reviewer.request("PUT", "/v1/assessments/\(id)/answers/drill", json: ["value": "na"]).status == 200)
        let drillDate = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/last_drill", json: ["value": "2024-02-29"])
        #expect(drillDate.status == 200, "\(drillDate.text)")
        #expect(drillDate.json["value"] as? String == "2024-02-29", "\(drillDate.text)")
        // Long texts keep their line breaks, in the answer and in its comment; a NUL in a comment is a 422.
        let lines = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/notes",
            json: ["value": "line one\nline two\tindented", "comment": "see:\r\n- runbook"])
        #expect(lines.status == 200, "\(lines.text)")
        let nul = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/notes", json: ["value": "ok", "comment": "a\u{0}b"])
        #expect(nul.status == 422, "\(nul.text)")
        #expect(try reviewer.request("DELETE", "/v1/assessments/\(id)/answers/notes").status == 405)
        #expect(try reviewer.request("PUT", "/v1/assessments/\(id)/answers/nope", json: ["value": "yes"]).status == 404)
        let unknownEvidence = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/backups", json: ["value": "yes", "evidence_ids": [UUID().uuidString]])
        #expect(unknownEvidence.status == 422)
        // PATCH is all or nothing: one bad answer, nothing saved.
        let mixed = try reviewer.patch(
            "/v1/assessments/\(id)/answers",
            ["answers": ["backups": ["value": "yes"], "rto": ["value": -1], "zzz": ["value": 1]]])
        #expect(mixed.status == 422)
        #expect(Set(mixed.errorFields) == ["answers.rto.value", "answers.zzz"])
        let saved = try reviewer.get("/v1/assessments/\(id)/answers").json["items"] as! [[String: Any]]
        #expect(Set(saved.map { $0["question_key"] as! String }) == ["drill", "notes", "last_drill"])
        #expect(saved[0]["on_behalf"] as? Bool == true, "staff answering is recorded as on behalf")
    }

    /// Answers change the assessment's ETag; `If-Match` on PUT and PATCH of answers refuses a stale one.
    @Test func answersHonourIfMatchOnTheAssessment() throws {
        let id = try assessment(vendorID: try vendor(), questionnaireID: try smallQuestionnaire())
        let etag = try #require(try reviewer.get("/v1/assessments/\(id)").header("etag"))
        let first = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/backups", json: ["value": "yes"], headers: [("If-Match", etag)])
        #expect(first.status == 200, "\(first.text)")
        let next = try #require(first.header("etag"))
        #expect(next != etag)
        #expect(try reviewer.get("/v1/assessments/\(id)").header("etag") == next)
        // The old tag is stale now, for one answer and for many; nothing is saved.
        let stale = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/backups", json: ["value": "no"], headers: [("If-Match", etag)])
        #expect(stale.status == 412, "\(stale.text)")
        let stalePatch = try reviewer.request(
            "PATCH", "/v1/assessments/\(id)/answers", json: ["answers": ["oncall": ["value": "yes"]]],
            headers: [("If-Match", etag)])
        #expect(stalePatch.status == 412)
        let weak = try reviewer.request(
            "PUT", "/v1/assessments/\(id)/answers/backups", json: ["value": "no"], headers: [("If-Match", "W/" + next)])
        #expect(weak.status == 412, "If-Match compares strongly")
        let saved = try reviewer.get("/v1/assessments/\(id)/answers").json["items"] as! [[String: Any]]
        #expect(saved.map { $0["question_key"] as! String } == ["backups"])
        #expect(saved.first?["value"] as? String == "yes")
        let patched = try reviewer.request(
            "PATCH", "/v1/assessments/\(id)/answers", json: ["answers": ["oncall": ["value": "yes"]]],
            headers: [("If-Match", next)])
        #expect(patched.status == 200, "\(patched.text)")
        #expect(patched.header("etag") != nil && patched.header("etag") != next)
    }

    @Test func theListFiltersByVendorStatusAndDueDate() throws {
        let questionnaire = try smallQuestionnaire()
        let vendorA = try vendor()
        let vendorB = try vendor()
        let open = try assessment(vendorID: vendorA, questionnaireID: questionnaire)
        let cancelled = try assessment(vendorID: vendorA, questionnaireID: questionnaire)
        #expect(try reviewer.request("POST", "/v1/assessments/\(cancelled)/cancel").status == 200)
        let later = try reviewer.post(
            "/v1/assessments", ["vendor_id": vendorB, "questionnaire_id": questionnaire, "due_date": "2099-12-31"])
        let laterID = try #require(later.json["id"] as? String, "\(later.text)")
        func ids(_ query: String) throws -> Set<String> {
            let r = try admin.get("/v1/assessments?limit=200&" + query)
            #expect(r.status == 200, "\(query): \(r.text)")
            return Set((r.json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String })
        }
        #expect(try ids("vendor_id=\(vendorA)") == [open, cancelled])
        #expect(try ids("vendor_id=\(vendorA)&status=cancelled") == [cancelled])
        #expect(try ids("vendor_id=\(vendorA)&status=in_progress") == [open])
        #expect(try ids("vendor_id=\(vendorB)&due_before=2099-12-31").isEmpty)
        #expect(try ids("vendor_id=\(vendorB)&due_before=2100-01-01") == [laterID])
        for bad in ["status=lost", "due_before=2099-13-01", "vendor_id=nope"] {
            let r = try admin.get("/v1/assessments?" + bad)
            #expect(r.status == 422, "\(bad): \(r.status) \(r.text)")
        }
    }

    @Test func submittingNeedsEveryRequiredVisibleAnswer() throws {
        let id = try assessment(vendorID: try vendor(), questionnaireID: try smallQuestionnaire())
        _ = try reviewer.patch("/v1/assessments/\(id)/answers", ["answers": ["backups": ["value": "no"]]])
        let r = try reviewer.request("POST", "/v1/assessments/\(id)/submit")
        #expect(r.status == 422)
        #expect(Set(r.errorFields) == ["answers.oncall", "answers.rto"])
        // `drill` is hidden (backups is no) and not required anyway; a hidden answer is kept but ignored.
        _ = try reviewer.patch(
            "/v1/assessments/\(id)/answers",
            ["answers": ["oncall": ["value": "yes"], "rto": ["value": 10], "drill": ["value": "monthly"]]])
        #expect(try reviewer.request("POST", "/v1/assessments/\(id)/submit").status == 200)
        let score = try reviewer.get("/v1/assessments/\(id)/score").json
        let backups = (score["requirements"] as! [[String: Any]]).first { $0["ref"] as? String == "RR-REC-04" }!
        // Only `backups` (no → 0) counts: drill is hidden. RR-REC-04 demands evidence: min(0, 0.5) = 0.
        #expect(backups["score"] as? Double == 0)
        #expect(backups["answered_questions"] as? Int == 1)
    }

    @Test func vendorUsersWorkOnlyOnTheirOwnAssessments() throws {
        let mine = try vendor()
        let theirs = try vendor()
        let q = try smallQuestionnaire()
        let own = try assessment(vendorID: mine, questionnaireID: q)
        let other = try assessment(vendorID: theirs, questionnaireID: q)
        let user = try Harness.client(role: .vendor, vendorID: UUID(uuidString: mine))
        #expect(try user.get("/v1/assessments/\(own)").status == 200)
        #expect(try user.get("/v1/assessments/\(other)").status == 404)
        #expect(try user.get("/v1/assessments/\(other)/answers").status == 404)
        #expect(
            try user.request("PUT", "/v1/assessments/\(other)/answers/backups", json: ["value": "yes"]).status == 404)
        #expect(try user.request("POST", "/v1/assessments/\(other)/submit").status == 404)
        #expect(try user.get("/v1/assessments/\(other)/score").status == 404)
        let list = try user.get("/v1/assessments?limit=200").json["items"] as! [[String: Any]]
        #expect(list.allSatisfy { $0["vendor_id"] as? String == mine })
        #expect(list.contains { $0["id"] as? String == own })
        // Their own: answers are theirs (not on behalf), the score waits for approval.
        let answered = try user.request("PUT", "/v1/assessments/\(own)/answers/backups", json: ["value": "yes"])
        #expect(answered.status == 200)
        #expect(answered.json["on_behalf"] as? Bool == false)
        #expect(try user.get("/v1/assessments/\(own)/score").status == 403)
        #expect(try user.post("/v1/assessments/\(own)/review", ["decision": "approve"]).status == 403)
    }

    @Test func theScoreIsReadInAFixedNumberOfQueries() throws {
        let small = try assessment(vendorID: try vendor(), questionnaireID: try smallQuestionnaire())
        let shippedID = try #require(
            try admin.get("/v1/questionnaires?family_id=\(Seed.defaultQuestionnaireFamily.uuidString)&status=published")
                .json["items"].flatMap { ($0 as? [[String: Any]])?.first?["id"] as? String })
        let big = try assessment(vendorID: try vendor(), questionnaireID: shippedID)
        func queries(_ id: String) throws -> Int {
            let db = try Harness.connection()
            try db.run(script: "SELECT set_config('bulwark.scope', 'all', false)")
            let before = db.queryCount
            _ = try AssessmentScoreProbe.load(db, id: UUID(uuidString: id)!)
            return db.queryCount - before
        }
        // Cold (the questionnaire and catalog read once) and warm (both from memory): bounded either way.
        #expect(try queries(small) <= 5)
        #expect(try queries(big) <= 5)
        let few = try queries(small)
        let many = try queries(big)
        #expect(few == many, "5 questions and 68 questions take the same number of queries")
        #expect(few <= 3)
    }
}
