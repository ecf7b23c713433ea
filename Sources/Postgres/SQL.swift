/// A query whose interpolated values always become bound parameters (`$1`, `$2`, …).
///
/// `"SELECT * FROM vendors WHERE id = \(id)"` sends the text `… WHERE id = $1` and `id` as a parameter.
/// There is no interpolation that splices a value into the text: identifiers come from literal fragments
/// (`SQL` values, often chosen through an enum), and `SQL(unsafe:)` is the one grep-able escape hatch.
public struct SQL: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    enum Part: Sendable {
        case text(String)
        case bind(PostgresBind)
    }

    var parts: [Part]

    public init(stringLiteral value: String) { parts = [.text(value)] }

    public init(stringInterpolation: StringInterpolation) { parts = stringInterpolation.parts }

    /// Text used as-is. Only for trusted text: migrations and fixed identifiers.
    public init(unsafe text: String) { parts = [.text(text)] }

    public struct StringInterpolation: StringInterpolationProtocol {
        var parts: [Part] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            parts.reserveCapacity(interpolationCount * 2 + 1)
        }

        public mutating func appendLiteral(_ literal: String) {
            if !literal.isEmpty { parts.append(.text(literal)) }
        }

        /// A value: always a parameter.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            parts.append(.bind(value.postgresBind))
        }

        /// An optional value: a parameter, NULL when nil.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            parts.append(.bind(value?.postgresBind ?? PostgresBind(oid: T.postgresOID, bytes: nil, binary: true)))
        }

        /// Another query fragment, whose own parameters are renumbered into this one.
        public mutating func appendInterpolation(_ fragment: SQL) {
            parts.append(contentsOf: fragment.parts)
        }
    }

    public static func + (lhs: SQL, rhs: SQL) -> SQL {
        var out = lhs
        out.parts.append(contentsOf: rhs.parts)
        return out
    }

    public static func += (lhs: inout SQL, rhs: SQL) { lhs.parts.append(contentsOf: rhs.parts) }

    /// Joins fragments with a separator, e.g. conditions with " AND ".
    public static func joined(_ fragments: [SQL], separator: SQL) -> SQL {
        var out = SQL(parts: [])
        for (i, f) in fragments.enumerated() {
            if i > 0 { out += separator }
            out += f
        }
        return out
    }

    init(parts: [Part]) { self.parts = parts }

    /// The text with `$n` placeholders, and the parameters in order.
    public var rendered: (text: String, binds: [PostgresBind]) {
        var text = ""
        var binds: [PostgresBind] = []
        for part in parts {
            switch part {
            case .text(let t): text += t
            case .bind(let b):
                binds.append(b)
                text += "$\(binds.count)"
            }
        }
        return (text, binds)
    }

    public var description: String { rendered.text }
}
