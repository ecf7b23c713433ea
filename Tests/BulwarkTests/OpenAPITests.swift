import Bulwark
import Foundation
import Testing

/// The spec and the router agree: every route is documented, every documented path is routed.
@Suite struct OpenAPITests {
    /// (METHOD, path) pairs from openapi.yaml, read with a small indentation-based scan of `paths:`.
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOfFile: Harness.home + "/openapi/openapi.yaml", encoding: .utf8)
        var out = Set<String>()
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("paths:") {
                inPaths = true
                continue
            }
            if inPaths, let first = line.first, first != " ", first != "#" { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if let path = currentPath, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.dropFirst(4).split(separator: ":")[0]
                if ["get", "post", "put", "patch", "delete"].contains(String(key)) {
                    out.insert("\(key.uppercased()) \(path)")
                }
            }
        }
        return out
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedPathIsRouted() throws {
        let documented = try OpenAPITests.documentedOperations()
        let routed = Set(try Harness.shared.app.router.routes.map { "\($0.method) \($0.template)" })
        #expect(!documented.isEmpty)
        #expect(
            routed.subtracting(documented).isEmpty, "routes missing from the spec: \(routed.subtracting(documented))")
        #expect(documented.subtracting(routed).isEmpty, "spec paths not routed: \(documented.subtracting(routed))")
    }

    @Test func everyV1RouteHasAPermissionEntry() throws {
        for route in try Harness.shared.app.router.routes where route.template.hasPrefix("/v1/") {
            #expect(Permissions.table["\(route.method) \(route.template)"] != nil, "\(route.method) \(route.template)")
        }
    }
}
