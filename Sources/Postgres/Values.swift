import Foundation

/// PostgreSQL type OIDs the package binds and decodes.
public enum OID {
    public static let unknown: UInt32 = 0
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let bpchar: UInt32 = 1042
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let textArray: UInt32 = 1009
    public static let varcharArray: UInt32 = 1015
    public static let uuid: UInt32 = 2950
    public static let uuidArray: UInt32 = 2951
    public static let jsonb: UInt32 = 3802
}

/// One bound parameter: its type and its bytes (nil is SQL NULL). Binary format unless `binary` is false.
public struct PostgresBind: Sendable, Equatable {
    public let oid: UInt32
    public let bytes: [UInt8]?
    public let binary: Bool

    public init(oid: UInt32, bytes: [UInt8]?, binary: Bool) {
        self.oid = oid
        self.bytes = bytes
        self.binary = binary
    }
}

/// A value that can be bound as a query parameter.
public protocol PostgresEncodable: Sendable {
    static var postgresOID: UInt32 { get }
    var postgresBind: PostgresBind { get }
}

/// A value that can be read from a binary-format result column.
public protocol PostgresDecodable {
    static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> Self
    static func decodeNull(column: String) throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull(column: String) throws -> Self {
        throw PostgresError.decoding(column: column, message: "is NULL but \(Self.self) is not optional")
    }
}

// The microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
let postgresEpochOffsetMicros: Int64 = 946_684_800_000_000

@inline(__always) func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

@inline(__always) func readBigEndian<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) -> T {
    T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
}

func expectLength(_ bytes: UnsafeRawBufferPointer, _ n: Int, _ column: String, _ type: String) throws {
    guard bytes.count == n else {
        throw PostgresError.decoding(column: column, message: "expected \(n) bytes for \(type), got \(bytes.count)")
    }
}

func typeMismatch(_ column: String, _ oid: UInt32, _ type: Any.Type) -> PostgresError {
    .decoding(column: column, message: "PostgreSQL type oid \(oid) cannot be read as \(type)")
}

extension String: PostgresEncodable, PostgresDecodable {
    // Strings are sent as untyped text so the server infers the column's type (text, date, enum …).
    public static var postgresOID: UInt32 { OID.unknown }
    public var postgresBind: PostgresBind { PostgresBind(oid: OID.unknown, bytes: Array(utf8), binary: false) }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> String {
        switch oid {
        case OID.jsonb:
            // binary jsonb is a version byte (1) followed by the text
            guard bytes.count >= 1 else { throw PostgresError.decoding(column: column, message: "empty jsonb") }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[1...]), as: UTF8.self)
        case OID.uuid:
            return try UUID.decode(bytes, oid: oid, column: column).uuidString.lowercased()
        case OID.int8, OID.int4, OID.int2, OID.bool, OID.float4, OID.float8, OID.timestamptz, OID.timestamp,
            OID.date, OID.bytea, OID.textArray, OID.uuidArray:
            throw typeMismatch(column, oid, String.self)
        default:
            // text, varchar, bpchar, name, json, citext and enums are UTF-8 text in binary format too
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public static var postgresOID: UInt32 { OID.int8 }
    public var postgresBind: PostgresBind {
        PostgresBind(oid: OID.int8, bytes: bigEndianBytes(Int64(self)), binary: true)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> Int {
        switch oid {
        case OID.int8:
            try expectLength(bytes, 8, column, "int8")
            return Int(readBigEndian(bytes) as Int64)
        case OID.int4:
            try expectLength(bytes, 4, column, "int4")
            return Int(readBigEndian(bytes) as Int32)
        case OID.int2:
            try expectLength(bytes, 2, column, "int2")
            return Int(readBigEndian(bytes) as Int16)
        default: throw typeMismatch(column, oid, Int.self)
        }
    }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public static var postgresOID: UInt32 { OID.bool }
    public var postgresBind: PostgresBind { PostgresBind(oid: OID.bool, bytes: [self ? 1 : 0], binary: true) }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> Bool {
        guard oid == OID.bool else { throw typeMismatch(column, oid, Bool.self) }
        try expectLength(bytes, 1, column, "bool")
        return bytes[0] != 0
    }
}

extension Double: PostgresEncodable, PostgresDecodable {
    public static var postgresOID: UInt32 { OID.float8 }
    public var postgresBind: PostgresBind {
        PostgresBind(oid: OID.float8, bytes: bigEndianBytes(bitPattern), binary: true)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> Double {
        switch oid {
        case OID.float8:
            try expectLength(bytes, 8, column, "float8")
            return Double(bitPattern: readBigEndian(bytes))
        case OID.float4:
            try expectLength(bytes, 4, column, "float4")
            return Double(Float(bitPattern: readBigEndian(bytes)))
        case OID.int8, OID.int4, OID.int2:
            return Double(try Int.decode(bytes, oid: oid, column: column))
        default: throw typeMismatch(column, oid, Double.self)
        }
    }
}

extension UUID: PostgresEncodable, PostgresDecodable {
    public static var postgresOID: UInt32 { OID.uuid }
    public var postgresBind: PostgresBind {
        let u = uuid
        return PostgresBind(
            oid: OID.uuid,
            bytes: [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15], binary: true)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> UUID {
        guard oid == OID.uuid else { throw typeMismatch(column, oid, UUID.self) }
        try expectLength(bytes, 16, column, "uuid")
        let b = Array(bytes)
        return UUID(
            uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
        )
    }
}

extension Date: PostgresEncodable, PostgresDecodable {
    public static var postgresOID: UInt32 { OID.timestamptz }
    /// A date beyond what PostgreSQL can hold (or not a number at all) binds as `infinity` or `-infinity`
    /// rather than trapping: such a value can come from a client.
    public var postgresBind: PostgresBind {
        let scaled = (timeIntervalSince1970 * 1_000_000).rounded()
        let micros: Int64
        if scaled.isNaN || scaled <= -9.2e18 {
            micros = .min
        } else if scaled >= 9.2e18 {
            micros = .max
        } else {
            micros = Int64(scaled) - postgresEpochOffsetMicros
        }
        return PostgresBind(oid: OID.timestamptz, bytes: bigEndianBytes(micros), binary: true)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> Date {
        guard oid == OID.timestamptz || oid == OID.timestamp else { throw typeMismatch(column, oid, Date.self) }
        try expectLength(bytes, 8, column, "timestamptz")
        let micros: Int64 = readBigEndian(bytes)
        // `infinity` and `-infinity` are Int64.max and .min: adding the epoch offset would trap.
        let (sum, overflow) = micros.addingReportingOverflow(postgresEpochOffsetMicros)
        if overflow || micros == .max || micros == .min { return micros > 0 ? .distantFuture : .distantPast }
        return Date(timeIntervalSince1970: Double(sum) / 1_000_000)
    }
}

/// A calendar date without a time zone (PostgreSQL `date`), written `YYYY-MM-DD`.
public struct CalendarDate: Sendable, Hashable, Comparable, CustomStringConvertible, PostgresEncodable,
    PostgresDecodable
{
    /// Days since 1970-01-01.
    public let daysSinceEpoch: Int

    public init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    /// Parses strictly `YYYY-MM-DD` with a real month and day (years 0001–9999); nil otherwise.
    public init?(_ text: String) {
        let u = Array(text.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-") else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var n = 0
            for i in r {
                guard u[i] >= 48 && u[i] <= 57 else { return nil }
                n = n * 10 + Int(u[i] - 48)
            }
            return n
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10) else { return nil }
        guard y >= 1, (1...12).contains(m), d >= 1, d <= CalendarDate.daysIn(month: m, year: y) else { return nil }
        self.init(daysSinceEpoch: CalendarDate.days(year: y, month: m, day: d))
    }

    public init(year: Int, month: Int, day: Int) {
        self.init(daysSinceEpoch: CalendarDate.days(year: year, month: month, day: day))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public var components: (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public var description: String {
        let c = components
        func pad(_ n: Int, _ w: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }

    public func adding(days: Int) -> CalendarDate { CalendarDate(daysSinceEpoch: daysSinceEpoch + days) }

    public static func < (a: CalendarDate, b: CalendarDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }

    public static var postgresOID: UInt32 { OID.date }
    public var postgresBind: PostgresBind {
        PostgresBind(oid: OID.date, bytes: bigEndianBytes(Int32(daysSinceEpoch - 10_957)), binary: true)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> CalendarDate {
        guard oid == OID.date else { throw typeMismatch(column, oid, CalendarDate.self) }
        try expectLength(bytes, 4, column, "date")
        let days: Int32 = readBigEndian(bytes)
        return CalendarDate(daysSinceEpoch: Int(days) + 10_957)  // 10957 days from 1970-01-01 to 2000-01-01
    }
}

/// A JSON document bound as `jsonb`, or read from a json/jsonb column, as its UTF-8 text.
public struct JSONB: Sendable, Equatable, PostgresEncodable, PostgresDecodable {
    public let utf8: [UInt8]

    public init(utf8: [UInt8]) { self.utf8 = utf8 }
    public init(_ text: String) { self.utf8 = Array(text.utf8) }
    public init(data: Data) { self.utf8 = Array(data) }

    public var text: String { String(decoding: utf8, as: UTF8.self) }

    public static var postgresOID: UInt32 { OID.jsonb }
    public var postgresBind: PostgresBind { PostgresBind(oid: OID.jsonb, bytes: [1] + utf8, binary: true) }

    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> JSONB {
        switch oid {
        case OID.jsonb:
            guard bytes.count >= 1, bytes[0] == 1 else {
                throw PostgresError.decoding(column: column, message: "unknown jsonb version")
            }
            return JSONB(utf8: Array(bytes[1...]))
        case OID.json, OID.text: return JSONB(utf8: Array(bytes))
        default: throw typeMismatch(column, oid, JSONB.self)
        }
    }
}

/// Raw bytes (bytea).
public struct ByteA: Sendable, Equatable, PostgresEncodable, PostgresDecodable {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public static var postgresOID: UInt32 { OID.bytea }
    public var postgresBind: PostgresBind { PostgresBind(oid: OID.bytea, bytes: bytes, binary: true) }
    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> ByteA {
        guard oid == OID.bytea else { throw typeMismatch(column, oid, ByteA.self) }
        return ByteA(Array(bytes))
    }
}

// One-dimensional arrays in PostgreSQL's binary array format:
// ndim, has-null flag, element oid, then per dimension (length, lower bound), then (length, bytes) per element.
func encodeArray(elementOID: UInt32, elements: [[UInt8]]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + $1.count })
    if elements.isEmpty {
        out += bigEndianBytes(Int32(0)) + bigEndianBytes(Int32(0)) + bigEndianBytes(elementOID)
        return out
    }
    out += bigEndianBytes(Int32(1)) + bigEndianBytes(Int32(0)) + bigEndianBytes(elementOID)
    out += bigEndianBytes(Int32(elements.count)) + bigEndianBytes(Int32(1))
    for e in elements {
        out += bigEndianBytes(Int32(e.count))
        out += e
    }
    return out
}

func decodeArray<T>(
    _ bytes: UnsafeRawBufferPointer, column: String, element: (UnsafeRawBufferPointer, UInt32) throws -> T
) throws -> [T] {
    guard bytes.count >= 12 else { throw PostgresError.decoding(column: column, message: "short array") }
    let ndim = Int(readBigEndian(bytes, at: 0) as Int32)
    let elementOID: UInt32 = readBigEndian(bytes, at: 8)
    if ndim == 0 { return [] }
    guard ndim == 1, bytes.count >= 20 else {
        throw PostgresError.decoding(column: column, message: "only one-dimensional arrays are supported")
    }
    let count = Int(readBigEndian(bytes, at: 12) as Int32)
    var offset = 20
    var out: [T] = []
    out.reserveCapacity(count)
    for _ in 0..<count {
        guard offset + 4 <= bytes.count else {
            throw PostgresError.decoding(column: column, message: "truncated array")
        }
        let length = Int(readBigEndian(bytes, at: offset) as Int32)
        offset += 4
        guard length >= 0 else { throw PostgresError.decoding(column: column, message: "NULL array element") }
        guard offset + length <= bytes.count else {
            throw PostgresError.decoding(column: column, message: "truncated array")
        }
        out.append(try element(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), elementOID))
        offset += length
    }
    return out
}

extension Array: PostgresEncodable where Element == String {
    public static var postgresOID: UInt32 { OID.textArray }
    public var postgresBind: PostgresBind {
        PostgresBind(
            oid: OID.textArray, bytes: encodeArray(elementOID: OID.text, elements: map { [UInt8]($0.utf8) }),
            binary: true)
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> [Element] {
        try decodeArray(bytes, column: column) { try Element.decode($0, oid: $1, column: column) }
    }
}

/// A list of UUIDs bound as `uuid[]` (for `= ANY($1)`).
public struct UUIDArray: Sendable, PostgresEncodable {
    public let values: [UUID]
    public init(_ values: [UUID]) { self.values = values }
    public static var postgresOID: UInt32 { OID.uuidArray }
    public var postgresBind: PostgresBind {
        PostgresBind(
            oid: OID.uuidArray,
            bytes: encodeArray(elementOID: OID.uuid, elements: values.map { $0.postgresBind.bytes ?? [] }), binary: true
        )
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(_ bytes: UnsafeRawBufferPointer, oid: UInt32, column: String) throws -> Wrapped? {
        try Wrapped.decode(bytes, oid: oid, column: column)
    }
    public static func decodeNull(column: String) throws -> Wrapped? { nil }
}
