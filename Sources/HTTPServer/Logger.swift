import Glibc

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug = 0, info, warn, error

    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warn
        case "error": self = .error
        default: return nil
        }
    }

    public var name: String { ["debug", "info", "warn", "error"][rawValue] }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// One JSON object per line on standard error; each line goes out in a single write so lines from
/// different threads never interleave.
public struct Logger: Sendable {
    public let level: LogLevel

    public init(level: LogLevel) { self.level = level }

    public func log(_ level: LogLevel, _ message: String, _ fields: [(String, LogValue)] = []) {
        guard level >= self.level else { return }
        var line = "{\"time\":"
        JSONText.appendString(rfc3339Now(), to: &line)
        line += ",\"level\":\"\(level.name)\",\"msg\":"
        JSONText.appendString(message, to: &line)
        for (key, value) in fields {
            line += ","
            JSONText.appendString(key, to: &line)
            line += ":"
            switch value {
            case .string(let s): JSONText.appendString(s, to: &line)
            case .int(let i): line += String(i)
            case .double(let d): line += String(d)
            }
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = write(2, buf.baseAddress! + offset, buf.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    public func debug(_ m: String, _ f: [(String, LogValue)] = []) { log(.debug, m, f) }
    public func info(_ m: String, _ f: [(String, LogValue)] = []) { log(.info, m, f) }
    public func warn(_ m: String, _ f: [(String, LogValue)] = []) { log(.warn, m, f) }
    public func error(_ m: String, _ f: [(String, LogValue)] = []) { log(.error, m, f) }
}

public enum LogValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case string(String)
    case int(Int)
    case double(Double)
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
}

public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// The current time as RFC 3339 UTC with milliseconds.
func rfc3339Now() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return formatRFC3339(seconds: Int(ts.tv_sec), fraction: Int(ts.tv_nsec / 1_000_000), digits: 3)
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` in UTC: `fraction` is written with `digits` digits (milliseconds: 3,
/// microseconds: 6). Shared by the log lines and the API's timestamps.
public func formatRFC3339(seconds: Int, fraction: Int, digits: Int) -> String {
    var t = time_t(seconds)
    var parts = tm()
    gmtime_r(&t, &parts)
    func pad(_ n: Int, _ w: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, w - s.count)) + s
    }
    return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
        + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(fraction, digits))Z"
}
