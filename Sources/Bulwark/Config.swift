import Foundation
import HTTPServer

/// Settings from the environment. A bad value is a `ConfigError` naming the variable; the CLI exits 2.
public struct Config: Sendable {
    public var databaseURL: String
    public var listenHost: String
    public var listenPort: Int
    public var threads: Int
    public var databasePoolSize: Int
    public var databaseWaitSeconds: Double
    public var maxBodyBytes: Int
    public var logLevel: LogLevel
    public var connectionTimeoutSeconds: Int
    public var connectionLimit: Int
    public var drainSeconds: Double
    /// The folder holding `schema/` and `openapi/`.
    public var home: String
    /// Where the service's pooled connections log in: a role that row-level security applies to
    /// (`BULWARK_SERVICE_DATABASE_URL`, e.g. as `bulwark_app`). Nil: `databaseURL`, the owner that migrates,
    /// which then takes `databaseRole` with `SET ROLE`.
    public var serviceDatabaseURL: String?
    /// The role every pooled connection takes (`SET ROLE`), one that row-level security applies to. Empty: none,
    /// the default when the service logs in as its own role.
    public var databaseRole: String = "bulwark_app"
    /// A body still arriving after the connection timeout must have averaged this many bytes a second (0: off).
    public var minBodyBytesPerSecond: Int = 1024
    /// Requests per second per token, and the burst a token may spend at once.
    public var rateLimitPerSecond: Double = 50
    public var rateLimitBurst: Double = 100
    /// Failed authentications per client address: per minute, and the burst allowed.
    public var authFailuresPerMinute: Double = 60
    public var authFailureBurst: Double = 20

    public init(
        databaseURL: String, listenHost: String = "127.0.0.1", listenPort: Int = 8080, threads: Int = 16,
        databasePoolSize: Int = 16, databaseWaitSeconds: Double = 5, maxBodyBytes: Int = 1 << 20,
        logLevel: LogLevel = .info, connectionTimeoutSeconds: Int = 30, connectionLimit: Int = 10_000,
        drainSeconds: Double = 10, home: String
    ) {
        self.databaseURL = databaseURL
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.threads = threads
        self.databasePoolSize = databasePoolSize
        self.databaseWaitSeconds = databaseWaitSeconds
        self.maxBodyBytes = maxBodyBytes
        self.logLevel = logLevel
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.connectionLimit = connectionLimit
        self.drainSeconds = drainSeconds
        self.home = home
    }

    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Config {
        func integer(_ name: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let raw = env[name], !raw.isEmpty else { return fallback }
            guard let value = Int(raw), range.contains(value) else {
                throw ConfigError(
                    description:
                        "\(name)=\(raw) is not valid: expected a whole number from \(range.lowerBound) to \(range.upperBound)"
                )
            }
            return value
        }
        guard let url = env["DATABASE_URL"], !url.isEmpty else {
            throw ConfigError(description: "DATABASE_URL is not set (for example postgresql://user@localhost/bulwark)")
        }
        let (host, port) = try parseListen(env["BULWARK_LISTEN"] ?? "127.0.0.1:8080")
        var level = LogLevel.info
        if let raw = env["BULWARK_LOG_LEVEL"], !raw.isEmpty {
            guard let parsed = LogLevel(name: raw) else {
                throw ConfigError(
                    description: "BULWARK_LOG_LEVEL=\(raw) is not valid: expected debug, info, warn or error")
            }
            level = parsed
        }
        let threads = try integer("BULWARK_THREADS", 16, 1...1024)
        let serviceURL = env["BULWARK_SERVICE_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let role = env["BULWARK_DB_ROLE"] ?? (serviceURL == nil ? "bulwark_app" : "")
        guard role.isEmpty || role.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw ConfigError(
                description: "BULWARK_DB_ROLE=\(role) is not valid: expected a lower-case role name, or empty")
        }
        var config = Config(
            databaseURL: url, listenHost: host, listenPort: port, threads: threads,
            databasePoolSize: try integer("BULWARK_DB_POOL", threads, 1...1000),
            databaseWaitSeconds: Double(try integer("BULWARK_DB_WAIT_MS", 5000, 1...600_000)) / 1000,
            maxBodyBytes: try integer("BULWARK_MAX_BODY_BYTES", 1 << 20, 1024...(1 << 30)), logLevel: level,
            connectionTimeoutSeconds: try integer("BULWARK_CONNECTION_TIMEOUT", 30, 1...3600),
            connectionLimit: try integer("BULWARK_MAX_CONNECTIONS", 10_000, 1...1_000_000),
            drainSeconds: Double(try integer("BULWARK_DRAIN_SECONDS", 10, 0...600)),
            home: try findHome(env["BULWARK_HOME"]))
        config.databaseRole = role
        config.serviceDatabaseURL = serviceURL
        config.minBodyBytesPerSecond = try integer("BULWARK_MIN_BODY_BYTES_PER_SECOND", 1024, 0...1_000_000_000)
        config.rateLimitPerSecond = Double(try integer("BULWARK_RATE_LIMIT", 50, 1...1_000_000))
        config.rateLimitBurst = Double(try integer("BULWARK_RATE_BURST", 100, 1...1_000_000))
        config.authFailuresPerMinute = Double(try integer("BULWARK_AUTH_FAILURES_PER_MINUTE", 60, 1...1_000_000))
        config.authFailureBurst = Double(try integer("BULWARK_AUTH_FAILURE_BURST", 20, 1...1_000_000))
        return config
    }

    static func parseListen(_ raw: String) throws -> (String, Int) {
        let bad = ConfigError(
            description: "BULWARK_LISTEN=\(raw) is not valid: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
        var host: Substring
        var portText: Substring
        if raw.hasPrefix("[") {
            guard let close = raw.firstIndex(of: "]") else { throw bad }
            host = raw[raw.index(after: raw.startIndex)..<close]
            let rest = raw[raw.index(after: close)...]
            guard rest.hasPrefix(":") else { throw bad }
            portText = rest.dropFirst()
        } else {
            guard let colon = raw.lastIndex(of: ":") else { throw bad }
            host = raw[..<colon]
            portText = raw[raw.index(after: colon)...]
        }
        if host == "localhost" { host = "127.0.0.1" }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { throw bad }
        var address = [UInt8](repeating: 0, count: 16)
        guard inet_pton(host.contains(":") ? AF_INET6 : AF_INET, String(host), &address) == 1 else {
            throw ConfigError(
                description: "BULWARK_LISTEN=\(raw) is not valid: the host must be an IP address (or localhost)")
        }
        return (String(host), port)
    }

    /// BULWARK_HOME, else the working directory, else a parent of the executable, whichever holds `schema/`.
    static func findHome(_ configured: String?) throws -> String {
        let fm = FileManager.default
        func holdsSchema(_ dir: String) -> Bool {
            var isDir: ObjCBool = false
            return fm.fileExists(atPath: dir + "/schema", isDirectory: &isDir) && isDir.boolValue
        }
        if let configured, !configured.isEmpty {
            guard holdsSchema(configured) else {
                throw ConfigError(description: "BULWARK_HOME=\(configured) does not contain a schema/ folder")
            }
            return configured
        }
        let cwd = fm.currentDirectoryPath
        if holdsSchema(cwd) { return cwd }
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? cwd).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<6 {
            if holdsSchema(dir.path) { return dir.path }
            dir.deleteLastPathComponent()
        }
        throw ConfigError(description: "cannot find the schema/ folder: set BULWARK_HOME to the folder that holds it")
    }
}
