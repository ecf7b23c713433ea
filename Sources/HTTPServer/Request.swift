/// An HTTP request as handlers see it: decoded path and query, lower-cased header names, the whole body.
public struct Request: Sendable {
    public let method: String
    /// The percent-decoded path, without the query string.
    public let path: String
    /// Query parameters in order, percent-decoded (a bare `?flag` has the value "").
    public let query: [(name: String, value: String)]
    /// Header fields with lower-cased names; repeated fields are joined with ", ".
    public let headers: [String: String]
    public let body: [UInt8]
    /// The client's IP address, as text.
    public let remoteAddress: String
    /// Filled in by the router from the matched route's `{name}` segments.
    public internal(set) var pathParameters: [String: String] = [:]
    /// Set when the body was larger than the server's limit and was not read; the value is the limit.
    public internal(set) var bodyLimitExceeded: Int?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [], headers: [String: String] = [:],
        body: [UInt8] = [], remoteAddress: String = ""
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The first value of a query parameter.
    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }

    public func pathParameter(_ name: String) -> String? { pathParameters[name] }

    /// The media type of the body without parameters, lower-cased (`application/json`).
    public var mediaType: String? {
        guard let value = header("content-type") else { return nil }
        let type = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? value
        return type.trimmingOWS().lowercased()
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    func trimmingOWS() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
