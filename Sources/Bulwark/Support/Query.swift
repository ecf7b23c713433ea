import Foundation
import HTTPServer

/// Reads query parameters, collecting problems as 422 field errors named after the parameter.
public final class QueryReader {
    private let request: Request
    public private(set) var errors: [FieldError] = []

    public init(_ request: Request) { self.request = request }

    /// Records unknown parameters, so a typo (`?teir=`) is an error rather than a silently ignored filter.
    public func rejectUnknown(_ allowed: Set<String>) {
        for (name, _) in request.query where !allowed.contains(name) {
            errors.append(FieldError(name, "is not a known query parameter"))
        }
    }

    public func string(_ name: String, maxLength: Int = 200) -> String? {
        guard let v = request.queryValue(name) else { return nil }
        if v.isEmpty || v.count > maxLength {
            errors.append(FieldError(name, "must have 1 to \(maxLength) characters"))
            return nil
        }
        return v
    }

    public func enumeration<E: RawRepresentable & CaseIterable>(_ name: String, _ type: E.Type) -> E?
    where E.RawValue == String {
        guard let v = request.queryValue(name) else { return nil }
        guard let e = E(rawValue: v) else {
            errors.append(FieldError(name, "must be one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))"))
            return nil
        }
        return e
    }

    public func uuid(_ name: String) -> UUID? {
        guard let v = request.queryValue(name) else { return nil }
        guard let u = UUID(canonical: v) else {
            errors.append(FieldError(name, "must be a UUID"))
            return nil
        }
        return u
    }

    /// An RFC 3339 time.
    public func time(_ name: String) -> Date? {
        guard let v = request.queryValue(name) else { return nil }
        guard let d = Timestamp.parse(v) else {
            errors.append(FieldError(name, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
            return nil
        }
        return d
    }

    public func bool(_ name: String) -> Bool? {
        guard let v = request.queryValue(name) else { return nil }
        switch v {
        case "true", "1": return true
        case "false", "0": return false
        default:
            errors.append(FieldError(name, "must be true or false"))
            return nil
        }
    }

    /// `limit`: default 50, 1…200.
    public func limit(default fallback: Int = 50, max: Int = 200) -> Int {
        guard let v = request.queryValue("limit") else { return fallback }
        guard let n = Int(v), (1...max).contains(n) else {
            errors.append(FieldError("limit", "must be a whole number from 1 to \(max)"))
            return fallback
        }
        return n
    }

    public func cursor() -> PageCursor? {
        guard let v = request.queryValue("cursor") else { return nil }
        guard let c = PageCursor(encoded: v) else {
            errors.append(FieldError("cursor", "is not a cursor this server issued"))
            return nil
        }
        return c
    }

    public func fail(_ name: String, _ message: String) { errors.append(FieldError(name, message)) }

    public func throwIfInvalid() throws {
        if !errors.isEmpty { throw APIError.validation(errors) }
    }
}

extension Request {
    /// The `{id}` path parameter as a UUID; anything else is a 404, as for an id that does not exist.
    public func uuidParameter(_ name: String = "id") throws -> UUID {
        guard let raw = pathParameter(name), let id = UUID(canonical: raw) else { throw APIError.notFound() }
        return id
    }
}

extension Response {
    public static func json(_ status: Int, _ value: JSON, headers: [(String, String)] = []) -> Response {
        var r = Response.json(status, value.bytes)
        for (n, v) in headers { r.setHeader(n, v) }
        return r
    }
}
