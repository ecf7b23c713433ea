import HTTPServer
import Testing

@Suite struct RouterTests {
    static func router() -> Router {
        var r = Router()
        r.add("GET", "/v1/things") { _, _ in .text(200, "list") }
        r.add("POST", "/v1/things") { _, _ in .text(201, "create") }
        r.add("GET", "/v1/things/{id}") { request, _ in .text(200, request.pathParameter("id") ?? "") }
        r.add("DELETE", "/v1/things/{id}") { _, _ in .noContent() }
        r.add("GET", "/v1/things/{id}/parts/{part}") { request, _ in
            .text(200, "\(request.pathParameter("id")!)/\(request.pathParameter("part")!)")
        }
        return r
    }

    @Test func matchesTemplatesAndParameters() throws {
        let r = RouterTests.router()
        guard case .found(let route, let params) = r.match(method: "GET", path: "/v1/things/42/parts/7") else {
            Issue.record("no match")
            return
        }
        #expect(route.template == "/v1/things/{id}/parts/{part}")
        #expect(params == ["id": "42", "part": "7"])
        if case .found(let route, _) = r.match(method: "HEAD", path: "/v1/things") {
            #expect(route.method == "GET")
        } else {
            Issue.record("HEAD is served by GET")
        }
    }

    @Test func unknownPathsAndMethods() {
        let r = RouterTests.router()
        if case .notFound = r.match(method: "GET", path: "/v1/thing") {} else { Issue.record("expected 404") }
        if case .notFound = r.match(method: "GET", path: "/v1/things/") {} else { Issue.record("empty id is 404") }
        if case .notFound = r.match(method: "GET", path: "/v1/things/1/2") {} else { Issue.record("expected 404") }
        if case .methodNotAllowed(let template, let allowed) = r.match(method: "PUT", path: "/v1/things/9") {
            #expect(template == "/v1/things/{id}")
            #expect(allowed == ["GET", "DELETE"])
        } else {
            Issue.record("expected 405")
        }
    }

    @Test func theChainRendersRoutingErrorsAsProblems() throws {
        let logger = Logger(level: .error)
        let handler = RouterTests.router().handler(middleware: [
            Middlewares.requestID, Middlewares.errorRendering(logger, translate: { _ in nil }),
        ])
        let missing = try handler(Request(method: "GET", path: "/nope"), Context())
        #expect(missing.status == 404)
        #expect(missing.header("content-type") == "application/problem+json")
        #expect(missing.header("x-request-id")?.count == 32)
        let wrong = try handler(Request(method: "PATCH", path: "/v1/things"), Context())
        #expect(wrong.status == 405)
        #expect(wrong.header("allow") == "GET, POST")
        let ok = try handler(Request(method: "GET", path: "/v1/things/abc"), Context())
        #expect(ok.status == 200)
        if case .bytes(let b) = ok.body { #expect(String(decoding: b, as: UTF8.self) == "abc") }
    }

    @Test func unknownErrorsBecomeAGeneric500() throws {
        struct Secret: Error {}
        var r = Router()
        r.add("GET", "/boom") { _, _ in throw Secret() }
        let handler = r.handler(middleware: [
            Middlewares.requestID, Middlewares.errorRendering(Logger(level: .error), translate: { _ in nil }),
        ])
        let response = try handler(Request(method: "GET", path: "/boom"), Context())
        #expect(response.status == 500)
        if case .bytes(let b) = response.body {
            let text = String(decoding: b, as: UTF8.self)
            #expect(!text.contains("Secret"))
            #expect(text.contains("urn:bulwark:problem:internal"))
        }
    }
}
