import Foundation
import HTTPServer

/// A parsed JSON document. Request bodies are parsed into this first, so validation can tell a missing
/// field from `null` and name the field whose type is wrong.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    /// Keys in order; output keeps this order.
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let pairs) = self { return pairs.first { $0.0 == key }?.1 }
        return nil
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

public enum JSONBody {
    /// Parses a request body: 415 unless it is JSON, 400 when it is not well-formed, 400 unless an object.
    public static func object(_ request: Request, extraMediaTypes: [String] = []) throws -> [(String, JSON)] {
        guard let type = request.mediaType, type == "application/json" || extraMediaTypes.contains(type) else {
            throw APIError.unsupportedMediaType(
                "Send the body as application/json\(extraMediaTypes.isEmpty ? "" : " or " + extraMediaTypes.joined(separator: " or "))."
            )
        }
        if let charset = request.header("content-type")?.lowercased().range(of: "charset="),
            let value = request.header("content-type")?.lowercased()[charset.upperBound...],
            !value.hasPrefix("utf-8") && !value.hasPrefix("\"utf-8\"")
        {
            throw APIError.unsupportedMediaType("Only UTF-8 JSON is accepted.")
        }
        let parsed: JSON
        do {
            parsed = try JSONParser.parse(request.body)
        } catch let failure as JSONParser.Failure {
            throw APIError.badRequest("The body is not well-formed JSON: \(failure.description).")
        }
        guard case .object(let pairs) = parsed else {
            throw APIError.badRequest("The body must be a JSON object, not \(parsed.typeName).")
        }
        return pairs
    }
}

/// Writes JSON straight into bytes: faster than an encoder, and `null` is written where asked.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0a: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0d: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func value(_ json: JSON) {
        switch json {
        case .null: raw("null")
        case .bool(let b): raw(b ? "true" : "false")
        case .number(let d): number(d)
        case .string(let s): string(s)
        case .array(let items):
            raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { raw(",") }
                value(item)
            }
            raw("]")
        case .object(let pairs):
            raw("{")
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { raw(",") }
                string(k)
                raw(":")
                value(v)
            }
            raw("}")
        }
    }

    public mutating func number(_ d: Double) {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 {
            raw(String(Int64(d)))
        } else if d.isFinite {
            raw(String(d))
        } else {
            raw("null")
        }
    }
}

extension JSON {
    /// The same document with object keys sorted at every level: equal documents, equal bytes.
    public var canonical: JSON {
        switch self {
        case .array(let items): return .array(items.map(\.canonical))
        case .object(let pairs): return .object(pairs.sorted { $0.0 < $1.0 }.map { ($0.0, $0.1.canonical) })
        default: return self
        }
    }

    public var canonicalBytes: [UInt8] { canonical.bytes }

    public var bytes: [UInt8] {
        var w = JSONWriter()
        w.value(self)
        return w.bytes
    }

    public static func string(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
    public static func int(_ i: Int?) -> JSON { i.map { .number(Double($0)) } ?? .null }
    public static func uuid(_ u: UUID?) -> JSON { u.map { .string($0.uuidString.lowercased()) } ?? .null }
    public static func time(_ d: Date?) -> JSON { d.map { .string(Timestamp.rfc3339($0)) } ?? .null }
}

public enum Timestamp {
    /// RFC 3339 UTC with microseconds, e.g. `2026-12-03T19:21:54.123456Z`.
    public static func rfc3339(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        return formatRFC3339(seconds: Int(seconds), fraction: Int(micros - seconds * 1_000_000), digits: 6)
    }

    /// Parses RFC 3339 (`Z` or an offset, optional fraction); nil when malformed.
    public static func parse(_ text: String) -> Date? {
        // RFC 3339 years have exactly four digits (Foundation's parser would take more).
        let u = Array(text.utf8.prefix(5))
        guard u.count == 5, u[0..<4].allSatisfy({ $0 >= 48 && $0 <= 57 }), u[4] == UInt8(ascii: "-") else { return nil }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }
}
