/// A field-level validation message: `field` is a path such as `contacts[1].email`.
public struct FieldError: Sendable, Equatable {
    public let field: String
    public let message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// The one error type handlers throw for anything a client should see, rendered as
/// `application/problem+json` (RFC 9457). Any other error becomes a generic 500.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    /// The problem slug, rendered as `urn:bulwark:problem:<slug>`.
    public var slug: String
    public var title: String
    public var detail: String
    public var errors: [FieldError]
    public var headers: [(name: String, value: String)]

    public init(
        status: Int, slug: String, title: String, detail: String, errors: [FieldError] = [],
        headers: [(name: String, value: String)] = []
    ) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    public var description: String { "\(status) \(title): \(detail)" }

    public static func badRequest(_ detail: String) -> APIError {
        APIError(status: 400, slug: "malformed-body", title: "Malformed request", detail: detail)
    }
    public static func unauthorized(_ detail: String = "A valid bearer token is required.") -> APIError {
        APIError(
            status: 401, slug: "unauthorized", title: "Unauthorized", detail: detail,
            headers: [("WWW-Authenticate", "Bearer")])
    }
    public static func forbidden(_ detail: String = "Your role may not do this.") -> APIError {
        APIError(status: 403, slug: "forbidden", title: "Forbidden", detail: detail)
    }
    public static func notFound(_ detail: String = "No such resource.") -> APIError {
        APIError(status: 404, slug: "not-found", title: "Not found", detail: detail)
    }
    public static func methodNotAllowed(allowed: [String]) -> APIError {
        APIError(
            status: 405, slug: "method-not-allowed", title: "Method not allowed",
            detail: "This path accepts \(allowed.joined(separator: ", ")).",
            headers: [("Allow", allowed.joined(separator: ", "))])
    }
    public static func conflict(_ detail: String) -> APIError {
        APIError(status: 409, slug: "conflict", title: "Conflict", detail: detail)
    }
    public static func preconditionFailed(_ detail: String = "The resource has changed; fetch it again.") -> APIError {
        APIError(status: 412, slug: "precondition-failed", title: "Precondition failed", detail: detail)
    }
    public static func payloadTooLarge(limit: Int) -> APIError {
        APIError(
            status: 413, slug: "payload-too-large", title: "Payload too large",
            detail: "The request body is larger than \(limit) bytes.")
    }
    public static func unsupportedMediaType(_ detail: String) -> APIError {
        APIError(status: 415, slug: "unsupported-media-type", title: "Unsupported media type", detail: detail)
    }
    public static func validation(_ errors: [FieldError], detail: String? = nil) -> APIError {
        APIError(
            status: 422, slug: "validation", title: "Validation failed",
            detail: detail
                ?? (errors.count == 1
                    ? "\(errors[0].field): \(errors[0].message)" : "\(errors.count) fields are invalid."),
            errors: errors)
    }
    public static func unavailable(_ detail: String, retryAfter: Int = 1) -> APIError {
        APIError(
            status: 503, slug: "unavailable", title: "Service unavailable", detail: detail,
            headers: [("Retry-After", String(retryAfter))])
    }
    public static func `internal`() -> APIError {
        APIError(
            status: 500, slug: "internal", title: "Internal server error",
            detail: "Something went wrong on our side; the request id identifies it in our logs.")
    }

    /// The problem+json response, carrying the request id so a client can quote it.
    public func response(requestID: String) -> Response {
        var out = "{\"type\":"
        JSONText.appendString("urn:bulwark:problem:" + slug, to: &out)
        out += ",\"title\":"
        JSONText.appendString(title, to: &out)
        out += ",\"status\":\(status),\"detail\":"
        JSONText.appendString(detail, to: &out)
        out += ",\"request_id\":"
        JSONText.appendString(requestID, to: &out)
        if !errors.isEmpty {
            out += ",\"errors\":["
            for (i, e) in errors.enumerated() {
                if i > 0 { out += "," }
                out += "{\"field\":"
                JSONText.appendString(e.field, to: &out)
                out += ",\"message\":"
                JSONText.appendString(e.message, to: &out)
                out += "}"
            }
            out += "]"
        }
        out += "}"
        var response = Response(status: status, contentType: "application/problem+json", bytes: Array(out.utf8))
        for h in headers { response.setHeader(h.name, h.value) }
        return response
    }
}

/// Minimal JSON string escaping for hand-built bodies (problem+json, log lines).
public enum JSONText {
    public static func appendString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    public static func quoted(_ s: String) -> String {
        var out = ""
        appendString(s, to: &out)
        return out
    }
}
