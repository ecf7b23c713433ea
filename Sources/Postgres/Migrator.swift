import Crypto
import Foundation

/// One migration file, `schema/NNNN_name.sql`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
    public let checksum: String
}

public enum MigrationError: Error, CustomStringConvertible {
    case unreadableDirectory(String)
    case badFileName(String)
    case duplicateVersion(Int)
    case checksumMismatch(version: Int, name: String)
    case failed(version: Int, name: String, underlying: Error)

    public var description: String {
        switch self {
        case .unreadableDirectory(let d): return "cannot read the migrations directory \(d)"
        case .badFileName(let f): return "migration file \(f) is not named NNNN_name.sql"
        case .duplicateVersion(let v): return "two migration files have version \(v)"
        case .checksumMismatch(let v, let n):
            return "migration \(v) (\(n)) was changed after it was applied; add a new migration instead"
        case .failed(let v, let n, let e): return "migration \(v) (\(n)) failed: \(e)"
        }
    }
}

/// Where the schema stands compared with the files.
public struct MigrationStatus: Sendable {
    public var pending: [Int]
    public var changed: [Int]
    public var isCurrent: Bool { pending.isEmpty && changed.isEmpty }
}

/// Applies `NNNN_*.sql` files in order, each in its own transaction, under an advisory lock, recording
/// version, SHA-256 checksum and time in `schema_migrations`; refuses to run when an applied file changed.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    /// Any fixed number; two instances migrating at once serialize on it.
    static let lockKey = 4_242_001

    public init(migrations: [Migration]) { self.migrations = migrations.sorted { $0.version < $1.version } }

    public init(directory: String) throws {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw MigrationError.unreadableDirectory(directory)
        }
        var found: [Migration] = []
        for name in names.sorted() where name.hasSuffix(".sql") {
            let stem = name.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]), version > 0 else {
                throw MigrationError.badFileName(name)
            }
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
                throw MigrationError.unreadableDirectory(directory + "/" + name)
            }
            if found.contains(where: { $0.version == version }) { throw MigrationError.duplicateVersion(version) }
            found.append(
                Migration(
                    version: version, name: String(stem[stem.index(after: underscore)...]),
                    sql: String(decoding: data, as: UTF8.self), checksum: Encoding.hex(SHA256.hash(Array(data)))))
        }
        self.init(migrations: found)
    }

    private func ensureTable(_ c: Connection) throws {
        try c.run(
            script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
    }

    private func applied(_ c: Connection) throws -> [Int: String] {
        var out: [Int: String] = [:]
        for row in try c.query("SELECT version, checksum FROM schema_migrations").rows {
            out[try row.decode("version")] = try row.decode("checksum")
        }
        return out
    }

    /// Compares the database with the files without changing anything.
    public func status(_ c: Connection) throws -> MigrationStatus {
        let exists: Bool =
            try c.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").first?
            .decode("present") ?? false
        let done = exists ? try applied(c) : [:]
        var status = MigrationStatus(pending: [], changed: [])
        for m in migrations {
            if let sum = done[m.version] {
                if sum != m.checksum { status.changed.append(m.version) }
            } else {
                status.pending.append(m.version)
            }
        }
        return status
    }

    /// Applies what is pending and returns the versions applied. `progress` hears about each file.
    @discardableResult
    public func migrate(_ c: Connection, progress: (Migration) -> Void = { _ in }) throws -> [Int] {
        try c.query("SELECT pg_advisory_lock(\(Migrator.lockKey))")
        defer { _ = try? c.query("SELECT pg_advisory_unlock(\(Migrator.lockKey))") }
        try ensureTable(c)
        let done = try applied(c)
        for m in migrations {
            if let sum = done[m.version], sum != m.checksum {
                throw MigrationError.checksumMismatch(version: m.version, name: m.name)
            }
        }
        var appliedNow: [Int] = []
        for m in migrations where done[m.version] == nil {
            progress(m)
            do {
                try c.transaction { tx in
                    try tx.run(script: m.sql)
                    try tx.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(m.version), \(m.name), \(m.checksum))"
                    )
                }
            } catch {
                throw MigrationError.failed(version: m.version, name: m.name, underlying: error)
            }
            appliedNow.append(m.version)
        }
        return appliedNow
    }
}
