import Foundation
import HTTPServer
import Postgres

/// What a request body said about one field.
public enum Field<T> {
    case absent
    case null
    case value(T)
    /// Present but wrong; the reader has recorded why.
    case invalid

    public var value: T? {
        if case .value(let v) = self { return v }
        return nil
    }

    public var isPresent: Bool {
        if case .absent = self { return false }
        return true
    }
}

/// Reads fields out of a JSON object, collecting every problem as a `FieldError` with its path, so one
/// response names all the bad fields at once.
public final class FieldReader {
    public private(set) var errors: [FieldError] = []
    private let pairs: [(String, JSON)]
    private let path: String

    public init(_ pairs: [(String, JSON)], path: String = "") {
        self.pairs = pairs
        self.path = path
    }

    func name(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    public func fail(_ key: String, _ message: String) { errors.append(FieldError(name(key), message)) }

    public func absorb(_ other: [FieldError]) { errors.append(contentsOf: other) }

    public func raw(_ key: String) -> JSON? { pairs.first { $0.0 == key }?.1 }

    /// Records every key not in `allowed`.
    public func rejectUnknown(_ allowed: Set<String>) {
        for (key, _) in pairs where !allowed.contains(key) { fail(key, "is not a known field") }
    }

    public func throwIfInvalid() throws {
        if !errors.isEmpty { throw APIError.validation(errors) }
    }

    private func field<T>(_ key: String, nullable: Bool, _ parse: (JSON) -> Result<T, FieldFailure>) -> Field<T> {
        guard let json = raw(key) else { return .absent }
        if case .null = json {
            if nullable { return .null }
            fail(key, "must not be null")
            return .invalid
        }
        switch parse(json) {
        case .success(let v): return .value(v)
        case .failure(let f):
            fail(key, f.message)
            return .invalid
        }
    }

    /// A string, trimmed of surrounding white space, with a length in characters and no control characters
    /// (but line breaks and tabs when `multiline`).
    public func string(_ key: String, nullable: Bool = false, length: ClosedRange<Int>, multiline: Bool = false)
        -> Field<String>
    {
        field(key, nullable: nullable) { Validate.string($0, length: length, multiline: multiline) }
    }

    public func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type, allowed: [E]? = nil)
        -> Field<E> where E.RawValue == String
    {
        field(key, nullable: false) { json in
            let choices = allowed ?? Array(E.allCases)
            guard case .string(let s) = json, let e = E(rawValue: s), choices.contains(where: { $0.rawValue == s })
            else {
                return .failure(FieldFailure("must be one of: \(choices.map(\.rawValue).joined(separator: ", "))"))
            }
            return .success(e)
        }
    }

    public func bool(_ key: String) -> Field<Bool> {
        field(key, nullable: false) { json in
            guard case .bool(let b) = json else { return .failure(FieldFailure("must be true or false")) }
            return .success(b)
        }
    }

    public func integer(_ key: String, nullable: Bool = false, range: ClosedRange<Int>) -> Field<Int> {
        field(key, nullable: nullable) { json in
            guard case .number(let d) = json, d == d.rounded(), abs(d) < 1e15 else {
                return .failure(FieldFailure("must be a whole number"))
            }
            guard range.contains(Int(d)) else {
                return .failure(FieldFailure("must be from \(range.lowerBound) to \(range.upperBound)"))
            }
            return .success(Int(d))
        }
    }

    public func uuid(_ key: String, nullable: Bool = false) -> Field<UUID> {
        field(key, nullable: nullable) { json in
            guard case .string(let s) = json, let u = UUID(canonical: s) else {
                return .failure(FieldFailure("must be a UUID"))
            }
            return .success(u)
        }
    }

    public func date(_ key: String, nullable: Bool = false) -> Field<CalendarDate> {
        field(key, nullable: nullable) { json in
            guard case .string(let s) = json, let d = CalendarDate(s) else {
                return .failure(FieldFailure("must be a date written YYYY-MM-DD"))
            }
            return .success(d)
        }
    }

    /// An array whose items are read by `item`, which reports problems under `key[i]`.
    public func array<T>(_ key: String, maxItems: Int, item: (JSON, String, FieldReader) -> T?) -> Field<[T]> {
        guard let json = raw(key) else { return .absent }
        guard case .array(let items) = json else {
            fail(key, json == .null ? "must not be null" : "must be an array")
            return .invalid
        }
        guard items.count <= maxItems else {
            fail(key, "must have at most \(maxItems) items")
            return .invalid
        }
        let before = errors.count
        var out: [T] = []
        for (i, element) in items.enumerated() {
            if let v = item(element, name(key) + "[\(i)]", self) { out.append(v) }
        }
        return errors.count == before ? .value(out) : .invalid
    }

    /// An array of strings, each trimmed and checked like `string(_:length:)`.
    public func strings(_ key: String, maxItems: Int, length: ClosedRange<Int>) -> Field<[String]> {
        array(key, maxItems: maxItems) { json, path, reader in
            switch Validate.string(json, length: length) {
            case .success(let s): return s
            case .failure(let f):
                reader.absorb([FieldError(path, f.message)])
                return nil
            }
        }
    }

    /// An array of objects, each read by its own reader whose errors carry `key[i]`.
    public func objects<T>(_ key: String, maxItems: Int, item: (FieldReader) -> T?) -> Field<[T]> {
        array(key, maxItems: maxItems) { json, path, parent in
            guard case .object(let pairs) = json else {
                parent.absorb([FieldError(path, "must be an object")])
                return nil
            }
            let reader = FieldReader(pairs, path: path)
            let value = item(reader)
            parent.absorb(reader.errors)
            return reader.errors.isEmpty ? value : nil
        }
    }

    /// A weight: a number above 0 and at most `max`; absent or null gives `fallback`.
    public func weight(_ key: String, max: Double = 1000, fallback: Double = 1) -> Double {
        switch raw(key) {
        case nil, .null?: return fallback
        case .number(let w)? where w > 0 && w <= max: return w
        default:
            fail(key, "must be a number above 0 and at most \(Int(max))")
            return fallback
        }
    }

    /// A nested object, read by its own reader whose errors carry this field's path.
    public func object<T>(_ key: String, nullable: Bool, read: (FieldReader) -> T?) -> Field<T> {
        guard let json = raw(key) else { return .absent }
        if case .null = json {
            if nullable { return .null }
            fail(key, "must not be null")
            return .invalid
        }
        guard case .object(let inner) = json else {
            fail(key, "must be an object")
            return .invalid
        }
        let reader = FieldReader(inner, path: name(key))
        let value = read(reader)
        absorb(reader.errors)
        if let value, reader.errors.isEmpty { return .value(value) }
        return .invalid
    }
}

public struct FieldFailure: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// Validators shared by every feature.
public enum Validate {
    /// `multiline` lets a long text keep its line breaks and tabs; every other control character is refused.
    public static func string(_ json: JSON, length: ClosedRange<Int>, multiline: Bool = false)
        -> Result<String, FieldFailure>
    {
        guard case .string(let raw) = json else { return .failure(FieldFailure("must be a string")) }
        let s = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if !hasOnlyTextCharacters(s, multiline: multiline) {
            return .failure(
                FieldFailure(
                    multiline
                        ? "must not contain control characters other than line breaks and tabs"
                        : "must not contain control characters"))
        }
        // Counted in Unicode scalars, as PostgreSQL's length() counts them, so the database's own CHECK agrees.
        let n = s.unicodeScalars.count
        if n < length.lowerBound {
            return .failure(
                FieldFailure(
                    length.lowerBound == 1 ? "must not be empty" : "must have at least \(length.lowerBound) characters")
            )
        }
        if n > length.upperBound { return .failure(FieldFailure("must have at most \(length.upperBound) characters")) }
        return .success(s)
    }

    /// No control characters, except line feed, carriage return and tab when `multiline`.
    public static func hasOnlyTextCharacters(_ s: String, multiline: Bool) -> Bool {
        !s.unicodeScalars.contains { c in
            c.properties.generalCategory == .control && !(multiline && (c == "\n" || c == "\r" || c == "\t"))
        }
    }

    /// A practical email check: one @, a non-empty local part of at most 64 characters, a dotted domain.
    public static func email(_ s: String) -> Bool {
        guard s.utf8.count <= 254, !s.contains(where: { $0.isWhitespace }) else { return false }
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let domain = parts[1]
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2
            && labels.allSatisfy {
                !$0.isEmpty && $0.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-")
                    && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
            }
    }

    /// `^[first][rest]{0,max-1}$` over ASCII, without a regular expression.
    static func shaped(_ s: String, max: Int, first: (UInt8) -> Bool, rest: (UInt8) -> Bool) -> Bool {
        let u = Array(s.utf8)
        guard let head = u.first, u.count <= max, first(head) else { return false }
        return u.dropFirst().allSatisfy(rest)
    }

    static func lower(_ c: UInt8) -> Bool { c >= 97 && c <= 122 }
    static func upper(_ c: UInt8) -> Bool { c >= 65 && c <= 90 }
    static func digit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// A lower-case identifier such as `resilience-v1` or `dr_test_report`.
    public static func slug(_ s: String) -> Bool {
        shaped(s, max: 64, first: { lower($0) || digit($0) }) {
            lower($0) || digit($0) || $0 == 46 || $0 == 95 || $0 == 45
        }
    }

    /// A requirement ref such as `RR-REC-01`.
    public static func ref(_ s: String) -> Bool {
        shaped(s, max: 64, first: { lower($0) || upper($0) || digit($0) }) {
            lower($0) || upper($0) || digit($0) || $0 == 46 || $0 == 95 || $0 == 45
        }
    }

    /// A question or section key such as `rto_hours`.
    public static func key(_ s: String) -> Bool {
        shaped(s, max: 64, first: lower) { lower($0) || digit($0) || $0 == 95 }
    }

    /// An absolute http or https URL with a host.
    public static func webURL(_ s: String) -> Bool {
        guard let c = URLComponents(string: s), let scheme = c.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = c.host, !host.isEmpty, !s.contains(where: { $0.isWhitespace })
        else { return false }
        return true
    }
}

extension UUID {
    /// Parses the 8-4-4-4-12 hex form (either case), as `UUID(uuidString:)` does, without its sscanf: ids in
    /// paths and bodies are parsed on every request.
    public init?(canonical text: String) {
        let u = text.utf8
        guard u.count == 36 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        var n = 0
        var high: UInt8?
        for (i, c) in u.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == UInt8(ascii: "-") else { return nil }
                continue
            }
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: return nil
            }
            if let h = high {
                bytes[n] = h << 4 | v
                n += 1
                high = nil
            } else {
                high = v
            }
        }
        self.init(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
