import Bulwark
import Foundation
import Testing

/// Every route the router knows, called by each role and by a vendor user of another vendor. The expected
/// statuses are written out here by hand, independently of `Permissions.table`, so a mistake in one is
/// caught by the other.
@Suite struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable {
        case admin, procurement, riskAnalyst, auditor, ownVendor, otherVendor
    }

    /// Expected status per caller, in `Caller.allCases` order.
    static let expected: [String: [Int]] = [
        //                                admin proc  risk  audit own   other
        "GET /healthz": [200, 200, 200, 200, 200, 200],
        "GET /readyz": [200, 200, 200, 200, 200, 200],
        "GET /metrics": [200, 200, 200, 200, 200, 200],
        "GET /openapi.yaml": [200, 200, 200, 200, 200, 200],
        "GET /v1/me": [200, 200, 200, 200, 200, 200],
        "GET /v1/vendors": [200, 200, 200, 200, 200, 200],
        "POST /v1/vendors": [201, 201, 403, 403, 403, 403],
        "GET /v1/vendors/{id}": [200, 200, 200, 200, 200, 404],
        "PATCH /v1/vendors/{id}": [200, 200, 403, 403, 200, 404],
        "DELETE /v1/vendors/{id}": [204, 204, 403, 403, 403, 403],
        "GET /v1/users": [200, 403, 403, 403, 403, 403],
        "POST /v1/users": [201, 403, 403, 403, 403, 403],
        "GET /v1/users/{id}": [200, 403, 403, 403, 403, 403],
        "PATCH /v1/users/{id}": [200, 403, 403, 403, 403, 403],
        "GET /v1/users/{id}/tokens": [200, 403, 403, 403, 403, 403],
        "POST /v1/users/{id}/tokens": [201, 403, 403, 403, 403, 403],
        "DELETE /v1/tokens/{id}": [204, 403, 403, 403, 403, 403],
        "GET /v1/audit-events": [200, 403, 403, 200, 403, 403],
        "GET /v1/frameworks": [200, 200, 200, 200, 403, 403],
        "POST /v1/frameworks": [201, 403, 201, 403, 403, 403],
        "GET /v1/frameworks/{id}": [200, 200, 200, 200, 403, 403],
        "GET /v1/frameworks/{id}/requirements": [200, 200, 200, 200, 403, 403],
        "GET /v1/questionnaires": [200, 200, 200, 200, 200, 200],
        "POST /v1/questionnaires": [201, 403, 201, 403, 403, 403],
        "GET /v1/questionnaires/{id}": [200, 200, 200, 200, 200, 200],
        "PATCH /v1/questionnaires/{id}": [200, 403, 200, 403, 403, 403],
        "POST /v1/questionnaires/{id}/publish": [200, 403, 200, 403, 403, 403],
        "POST /v1/questionnaires/{id}/versions": [201, 403, 201, 403, 403, 403],
        "GET /v1/assessments": [200, 200, 200, 200, 200, 200],
        "POST /v1/assessments": [201, 201, 201, 403, 403, 403],
        "GET /v1/assessments/{id}": [200, 200, 200, 200, 200, 404],
        "GET /v1/assessments/{id}/answers": [200, 200, 200, 200, 200, 404],
        "PUT /v1/assessments/{id}/answers/{question_key}": [200, 200, 200, 403, 200, 404],
        "PATCH /v1/assessments/{id}/answers": [200, 200, 200, 403, 200, 404],
        // A fresh assessment has no answers: allowed callers reach the check and get 422.
        "POST /v1/assessments/{id}/submit": [422, 422, 422, 403, 422, 404],
        // A fresh assessment is not submitted: allowed callers reach the state check and get 409.
        "POST /v1/assessments/{id}/review": [409, 409, 409, 403, 403, 403],
        "POST /v1/assessments/{id}/cancel": [200, 200, 200, 403, 403, 403],
        // Not approved yet: staff see it, the vendor waits (403), another vendor sees nothing (404).
        "GET /v1/assessments/{id}/score": [200, 200, 200, 200, 403, 404],
    ]

    @Test func everyRouteForEveryRole() throws {
        let running = try Harness.shared
        let admin = try Harness.client(role: .admin)
        let vendorID = try #require(
            try admin.post("/v1/vendors", ["name": Harness.uniqueName("Matrix"), "tier": "low"]).json["id"] as? String)
        let otherVendorID = try #require(
            try admin.post("/v1/vendors", ["name": Harness.uniqueName("Other"), "tier": "low"]).json["id"] as? String)
        let clients: [Caller: Client] = [
            .admin: admin,
            .procurement: try Harness.client(role: .procurement),
            .riskAnalyst: try Harness.client(role: .riskAnalyst),
            .auditor: try Harness.client(role: .auditor),
            .ownVendor: try Harness.client(role: .vendor, vendorID: UUID(uuidString: vendorID)),
            .otherVendor: try Harness.client(role: .vendor, vendorID: UUID(uuidString: otherVendorID)),
        ]
        let userID = try #require(
            try admin.post(
                "/v1/users",
                ["email": "m-\(UUID().uuidString.prefix(10))@example.test", "name": "M", "role": "auditor"]
            ).json["id"] as? String)

        let frameworkID = try #require(
            try admin.get("/v1/frameworks?key=resilience-v1").json["items"].flatMap {
                ($0 as? [[String: Any]])?.first?["id"] as? String
            })
        let publishedID = try #require(
            try admin.get("/v1/questionnaires?family_id=\(Seed.defaultQuestionnaireFamily.uuidString)&status=published")
                .json["items"].flatMap { ($0 as? [[String: Any]])?.first?["id"] as? String })
        func questionnaireBody() -> [String: Any] {
            [
                "name": "Matrix questionnaire", "framework_id": frameworkID,
                "sections": [["key": "s", "title": "S", "questions": [["key": "q", "text": "Q?", "type": "yes_no"]]]],
            ]
        }
        func draft() throws -> String {
            try #require(try admin.post("/v1/questionnaires", questionnaireBody()).json["id"] as? String)
        }

        let due = String(Timestamp.rfc3339(Date().addingTimeInterval(30 * 86_400)).prefix(10))
        func freshAssessment() throws -> String {
            try #require(
                try admin.post(
                    "/v1/assessments", ["vendor_id": vendorID, "questionnaire_id": publishedID, "due_date": due]
                ).json["id"] as? String)
        }
        let sharedAssessment = try freshAssessment()

        for route in running.app.router.routes {
            let key = "\(route.method) \(route.template)"
            let statuses = try #require(AuthorizationMatrixTests.expected[key], "no expectation written for \(key)")
            for (caller, want) in zip(Caller.allCases, statuses) {
                let client = clients[caller]!
                var path = route.template
                var body: Any?
                switch key {
                case "POST /v1/vendors": body = ["name": Harness.uniqueName(), "tier": "low"]
                case "PATCH /v1/vendors/{id}": body = ["contacts": [["name": "C", "email": "c@vendor.example"]]]
                case "POST /v1/users":
                    body = ["email": "n-\(UUID().uuidString.prefix(10))@example.test", "name": "N", "role": "auditor"]
                case "PATCH /v1/users/{id}": body = ["name": "Renamed \(caller.rawValue)"]
                case "POST /v1/users/{id}/tokens": body = ["name": "matrix"]
                case "POST /v1/frameworks":
                    body = [
                        "key": "matrix-\(UUID().uuidString.prefix(8).lowercased())", "name": "M", "version": "1",
                        "requirements": [
                            ["ref": "M-1", "title": "T", "principle": "run_cautiously", "severity": "low"]
                        ],
                    ]
                case "POST /v1/questionnaires": body = questionnaireBody()
                case "PATCH /v1/questionnaires/{id}": body = ["name": "Renamed"]
                case "POST /v1/assessments":
                    body = ["vendor_id": vendorID, "questionnaire_id": publishedID, "due_date": due]
                case "PUT /v1/assessments/{id}/answers/{question_key}": body = ["value": "yes"]
                case "PATCH /v1/assessments/{id}/answers": body = ["answers": ["int_timeouts": ["value": "no"]]]
                case "POST /v1/assessments/{id}/review": body = ["decision": "approve"]
                default: break
                }
                if key == "DELETE /v1/vendors/{id}" {
                    // A fresh vendor each time, so one caller's delete does not decide the next one's status.
                    let fresh = try #require(
                        try admin.post("/v1/vendors", ["name": Harness.uniqueName(), "tier": "low"]).json["id"]
                            as? String)
                    path = path.replacingOccurrences(of: "{id}", with: caller == .ownVendor ? vendorID : fresh)
                } else if key == "DELETE /v1/tokens/{id}" {
                    let fresh = try #require(
                        try admin.post("/v1/users/\(userID)/tokens", ["name": "doomed"]).json["id"] as? String)
                    path = path.replacingOccurrences(of: "{id}", with: fresh)
                } else if route.template.hasPrefix("/v1/frameworks/") {
                    path = path.replacingOccurrences(of: "{id}", with: frameworkID)
                } else if key == "GET /v1/questionnaires/{id}" {
                    path = path.replacingOccurrences(of: "{id}", with: publishedID)
                } else if key == "POST /v1/questionnaires/{id}/versions" {
                    let fresh = try draft()
                    _ = try admin.request("POST", "/v1/questionnaires/\(fresh)/publish")
                    path = path.replacingOccurrences(of: "{id}", with: fresh)
                } else if route.template.hasPrefix("/v1/questionnaires/") {
                    path = path.replacingOccurrences(of: "{id}", with: try draft())
                } else if route.template.hasPrefix("/v1/assessments/") {
                    let fresh = route.method == "POST" ? try freshAssessment() : sharedAssessment
                    path = path.replacingOccurrences(of: "{id}", with: fresh)
                        .replacingOccurrences(of: "{question_key}", with: "int_timeouts")
                } else if route.template.hasPrefix("/v1/vendors/") {
                    path = path.replacingOccurrences(of: "{id}", with: vendorID)
                } else {
                    path = path.replacingOccurrences(of: "{id}", with: userID)
                }
                let response = try client.request(route.method, path, json: body)
                #expect(response.status == want, "\(key) as \(caller.rawValue): \(response.status) \(response.text)")
            }
        }
    }
}
