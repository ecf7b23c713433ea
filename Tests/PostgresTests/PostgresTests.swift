import Foundation
import Postgres
import Synchronization
import Testing

enum TestDB {
    static let url: String = {
        let env = ProcessInfo.processInfo.environment
        return env["BULWARK_TEST_DATABASE_URL"] ?? env["DATABASE_URL"]
            ?? "postgresql://postgres@127.0.0.1:5432/bulwark_test"
    }()

    /// The maintenance database next to the test database, for CREATE DATABASE.
    static let adminURL: String = {
        if let u = ProcessInfo.processInfo.environment["BULWARK_TEST_ADMIN_URL"] { return u }
        guard let slash = url.lastIndex(of: "/") else { return url }
        return String(url[..<slash]) + "/postgres"
    }()

    static func connect(_ u: String = url) throws -> Connection { try Connection(ConnectionConfiguration(url: u)) }

    /// A new empty database, dropped when the returned closure is called.
    static func scratch() throws -> (url: String, drop: () -> Void) {
        let name = "scratch_" + UUID().uuidString.prefix(8).lowercased()
        let admin = try connect(adminURL)
        try admin.run(script: "CREATE DATABASE \(name)")
        guard let slash = adminURL.lastIndex(of: "/") else { throw PostgresError.poolClosed }
        let scratchURL = String(adminURL[..<slash]) + "/" + name
        return (
            scratchURL,
            {
                _ = try? admin.run(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            }
        )
    }
}

@Suite struct SQLTests {
    @Test func interpolationsBecomeParameters() {
        let name = "Robert'); DROP TABLE students;--"
        let q: SQL = "SELECT * FROM t WHERE name = \(name) AND n > \(3) AND x IS \(nil as Int?)"
        let (text, binds) = q.rendered
        #expect(text == "SELECT * FROM t WHERE name = $1 AND n > $2 AND x IS $3")
        #expect(binds.count == 3)
        #expect(binds[0].bytes == Array(name.utf8))
        #expect(binds[2].bytes == nil)
    }

    @Test func fragmentsAreRenumbered() {
        let a: SQL = "a = \(1)"
        let b: SQL = "b = \(2)"
        let q: SQL = "SELECT 1 WHERE \(SQL.joined([a, b], separator: " AND ")) LIMIT \(10)"
        #expect(q.rendered.text == "SELECT 1 WHERE a = $1 AND b = $2 LIMIT $3")
        #expect(q.rendered.binds.count == 3)
    }

    @Test func calendarDates() {
        #expect(CalendarDate("2024-02-29")?.description == "2024-02-29")
        #expect(CalendarDate("2023-02-29") == nil)
        #expect(CalendarDate("2024-13-01") == nil)
        #expect(CalendarDate("2024-1-01") == nil)
        #expect(CalendarDate("1970-01-01")?.daysSinceEpoch == 0)
        #expect(CalendarDate("2000-01-01")?.daysSinceEpoch == 10_957)
        #expect(CalendarDate("1969-12-31")?.daysSinceEpoch == -1)
        #expect(CalendarDate("2026-12-03")!.adding(days: 30).description == "2027-01-02")
    }
}

@Suite struct ConnectionTests {
    @Test func valuesRoundTripThroughTheDatabase() throws {
        let db = try TestDB.connect()
        let text = "it's \"quoted\", \\ back, emoji 🛡️, nul-free"
        let id = UUID()
        let when = Date(timeIntervalSince1970: 1_764_000_000.123456)
        let tags = ["a,b", "c\"d", "", "ünï", "{x}"]
        let row = try #require(
            try db.query(
                """
                SELECT \(text)::text AS s, \(42)::int8 AS i, 2147483647::int4 AS i4, \(true) AS b, \(2.5) AS d, \
                \(id) AS u, \(when) AS t, \(CalendarDate("2026-02-28")) AS day, \(tags) AS tags, \
                \(JSONB(#"{"k": [1, 2]}"#)) AS j, \(nil as String?)::text AS n, \(ByteA([0, 1, 255])) AS bytes
                """
            ).first)
        #expect(try row.decode("s", as: String.self) == text)
        #expect(try row.decode("i", as: Int.self) == 42)
        #expect(try row.decode("i4", as: Int.self) == Int(Int32.max))
        #expect(try row.decode("b", as: Bool.self))
        #expect(try row.decode("d", as: Double.self) == 2.5)
        #expect(try row.decode("u", as: UUID.self) == id)
        #expect(abs(try row.decode("t", as: Date.self).timeIntervalSince(when)) < 0.000_001)
        #expect(try row.decode("day", as: CalendarDate.self).description == "2026-02-28")
        #expect(try row.decode("tags", as: [String].self) == tags)
        #expect(try row.decode("j", as: JSONB.self).text == #"{"k": [1, 2]}"#)
        #expect(try row.decode("n", as: String?.self) == nil)
        #expect(try row.decode("bytes", as: ByteA.self).bytes == [0, 1, 255])
    }

    /// `infinity` is a timestamp an operator may store ("never expires"); decoding it must not trap.
    @Test func infiniteTimestampsDecodeAsDistantDates() throws {
        let db = try TestDB.connect()
        let row = try #require(
            try db.query("SELECT 'infinity'::timestamptz AS future, '-infinity'::timestamptz AS past").first)
        #expect(try row.decode("future", as: Date.self) == .distantFuture)
        #expect(try row.decode("past", as: Date.self) == .distantPast)
    }

    @Test func decodingErrorsNameTheColumn() throws {
        let db = try TestDB.connect()
        let row = try #require(try db.query("SELECT 'x'::text AS label, NULL::int8 AS missing").first)
        #expect {
            _ = try row.decode("label", as: Int.self)
        } throws: { error in
            "\(error)".contains("\"label\"")
        }
        #expect {
            _ = try row.decode("missing", as: Int.self)
        } throws: { error in
            "\(error)".contains("\"missing\"") && "\(error)".contains("NULL")
        }
        #expect {
            _ = try row.decode("nope", as: Int.self)
        } throws: { error in
            "\(error)".contains("\"nope\"")
        }
    }

    @Test func sqlStateIsClassified() throws {
        let db = try TestDB.connect()
        try db.run(script: "CREATE TEMP TABLE uniq (k text CONSTRAINT uniq_k UNIQUE)")
        try db.execute("INSERT INTO uniq VALUES (\("a"))")
        #expect {
            try db.execute("INSERT INTO uniq VALUES (\("a"))")
        } throws: { error in
            if case PostgresError.uniqueViolation(let c, _) = error { return c == "uniq_k" }
            return false
        }
        #expect {
            try db.execute("SELECT 1/0")
        } throws: { error in
            if case PostgresError.server(let state, _) = error { return state == "22012" }
            return false
        }
    }

    @Test func transactionsRollBackOnThrow() throws {
        let db = try TestDB.connect()
        try db.run(script: "CREATE TEMP TABLE items (n int8)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction { tx in
                try tx.execute("INSERT INTO items VALUES (\(1))")
                throw Boom()
            }
        }
        try db.transaction { tx in try tx.execute("INSERT INTO items VALUES (\(2))") }
        let n: Int = try db.query("SELECT count(*)::int8 AS n FROM items").first!.decode("n")
        #expect(n == 1)
        #expect(db.isIdle)
    }

    @Test func aLazyTransactionSendsItsBeginAndSetupWithTheFirstQuery() throws {
        let db = try TestDB.connect()
        try db.run(script: "CREATE TEMP TABLE lazy_items (n int8 CONSTRAINT lazy_items_n UNIQUE)")
        // Committed: the setup is visible to the first query, and the write lands.
        try db.beginLazily(["SELECT set_config('bulwark.test_lazy', \("on"), true)"])
        #expect(!db.isIdle)
        let marker: String? = try db.query("SELECT current_setting('bulwark.test_lazy', true) AS m").first!.decode("m")
        #expect(marker == "on")
        try db.execute("INSERT INTO lazy_items VALUES (\(1))")
        try db.commit()
        #expect(db.isIdle)
        // The setting was transaction-local, so it is gone now.
        let after: String? = try db.query("SELECT current_setting('bulwark.test_lazy', true) AS m").first!.decode("m")
        #expect(after == nil || after == "")
        // Rolled back: the first query's write disappears.
        try db.beginLazily([])
        try db.execute("INSERT INTO lazy_items VALUES (\(2))")
        db.rollback()
        // A failing first query: the transaction did begin, and rolls back cleanly.
        try db.beginLazily([])
        #expect(throws: PostgresError.self) { try db.execute("INSERT INTO lazy_items VALUES (\(1))") }
        db.rollback()
        #expect(db.isIdle)
        // A transaction that never ran a query ends without a round trip; transaction {} joins a lazy one.
        try db.beginLazily([])
        try db.commit()
        try db.beginLazily([])
        try db.transaction { tx in try tx.execute("INSERT INTO lazy_items VALUES (\(3))") }
        try db.commit(waiting: false)
        let ns: [Int] = try db.query("SELECT n FROM lazy_items ORDER BY n").rows.map { try $0.decode("n") }
        #expect(ns == [1, 3])
        // A second BEGIN while one is open is refused rather than nested.
        try db.beginLazily([])
        #expect(throws: PostgresError.self) { try db.beginLazily([]) }
        db.rollback()
    }

    /// An implicit lazy transaction (for reads) sends no BEGIN: each query is its own transaction with the
    /// setup in front of it, and `transaction {}` turns it into one real transaction.
    @Test func anImplicitLazyTransactionSetsItsScopeForEveryQuery() throws {
        let db = try TestDB.connect()
        let setup: SQL = "SELECT set_config('bulwark.test_implicit', \("on"), true)"
        try db.beginLazily([setup], implicit: true)
        let probe: SQL = "SELECT current_setting('bulwark.test_implicit', true) AS m, pg_current_xact_id()::text AS x"
        let first = try #require(try db.query(probe).first)
        let second = try #require(try db.query(probe).first)
        #expect(try first.decode("m", as: String?.self) == "on")
        #expect(try second.decode("m", as: String?.self) == "on")
        #expect(try first.decode("x", as: String.self) != second.decode("x", as: String.self), "one transaction each")
        try db.commit(waiting: false)
        #expect(db.isIdle)
        // Nothing is left behind: the setting was local to those transactions.
        let after: String? = try db.query("SELECT current_setting('bulwark.test_implicit', true) AS m").first!.decode(
            "m")
        #expect(after == nil || after == "")

        // transaction {} inside makes it one real transaction, scope included, committed by commit().
        try db.beginLazily([setup], implicit: true)
        let (a, b) = try db.transaction { tx in
            (try #require(try tx.query(probe).first), try #require(try tx.query(probe).first))
        }
        #expect(try a.decode("x", as: String.self) == b.decode("x", as: String.self))
        #expect(try b.decode("m", as: String?.self) == "on")
        #expect(!db.isIdle)
        try db.commit()
        #expect(db.isIdle)

        // A guard that finds nothing refuses the query, in implicit mode too; so does one whose `ok` is false
        // (an aggregate that always returns a row, so its side effects always run).
        try db.beginLazily([], guardedBy: "SELECT 1 WHERE false", implicit: true)
        #expect(throws: PostgresError.self) { try db.query("SELECT 1 AS one") }
        db.rollback()
        #expect(db.isIdle)
        try db.beginLazily(
            [], guardedBy: "SELECT count(*) = 1 AS ok FROM (SELECT 1 WHERE false) nothing", implicit: true)
        #expect(throws: PostgresError.self) { try db.query("SELECT 1 AS one") }
        db.rollback()
        try db.beginLazily([], guardedBy: "SELECT count(*) = 1 AS ok FROM (SELECT 1) one", implicit: true)
        #expect(try db.query("SELECT 1 AS one").rowCount == 1)
        try db.commit()
        #expect(db.isIdle)
    }

    @Test func serializationFailuresAreRetried() throws {
        let setup = try TestDB.connect()
        let table = "counter_" + UUID().uuidString.prefix(8).lowercased()
        try setup.run(
            script: "CREATE TABLE \(table) (id int PRIMARY KEY, n int8 NOT NULL); INSERT INTO \(table) VALUES (1, 0)")
        defer { _ = try? setup.run(script: "DROP TABLE \(table)") }
        let failures = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let db = try TestDB.connect()
                    for _ in 0..<5 {
                        try db.transaction(isolation: .serializable, attempts: 50) { tx in
                            let n: Int = try tx.query(SQL(unsafe: "SELECT n FROM \(table) WHERE id = 1")).first!.decode(
                                "n")
                            usleep(1_000)
                            try tx.execute(SQL(unsafe: "UPDATE \(table) SET n = ") + "\(n + 1)" + " WHERE id = 1")
                        }
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }.start()
        }
        group.wait()
        #expect(failures.load(ordering: .relaxed) == 0)
        let n: Int = try setup.query(SQL(unsafe: "SELECT n FROM \(table) WHERE id = 1")).first!.decode("n")
        #expect(n == 20, "every increment survived: retried, not lost")
    }

    @Test func preparedStatementsAreCachedPerConnection() throws {
        let db = try TestDB.connect()
        for i in 0..<5 { _ = try db.query("SELECT \(i)::int8 + 1 AS v") }
        let n: Int = try db.query(
            "SELECT count(*)::int8 AS n FROM pg_prepared_statements WHERE statement LIKE '%+ 1 AS v'"
        )
        .first!.decode("n")
        #expect(n == 1)
    }
}

@Suite struct PoolTests {
    @Test func aFullPoolTimesOut() throws {
        let pool = Pool(ConnectionConfiguration(url: TestDB.url), size: 1, acquireTimeout: 0.1)
        let held = try pool.acquire()
        let start = Date()
        #expect {
            _ = try pool.acquire()
        } throws: { error in
            if case PostgresError.poolTimeout = error { return true }
            return false
        }
        #expect(Date().timeIntervalSince(start) < 2)
        pool.release(held)
        #expect(try pool.withConnection { try $0.query("SELECT 1 AS one").rowCount } == 1)
        #expect(pool.statistics.timeouts == 1)
        #expect(pool.statistics.waits == 1)
    }

    @Test func aBrokenConnectionIsReplaced() throws {
        let pool = Pool(ConnectionConfiguration(url: TestDB.url), size: 1, acquireTimeout: 1)
        let pid: Int = try pool.withConnection {
            try $0.query("SELECT pg_backend_pid()::int8 AS pid").first!.decode("pid")
        }
        let killer = try TestDB.connect()
        try killer.execute("SELECT pg_terminate_backend(\(pid)::int4)")
        usleep(100_000)
        // The pooled connection's socket is dead; the first statement after checkout reconnects and retries.
        let newPID: Int = try pool.withConnection {
            try $0.query("SELECT pg_backend_pid()::int8 AS pid").first!.decode("pid")
        }
        #expect(newPID != pid)
    }

    @Test func sessionSetupSurvivesAReconnect() throws {
        let pool = Pool(ConnectionConfiguration(url: TestDB.url), size: 1, acquireTimeout: 1) { c in
            try c.run(script: "SET bulwark.test_marker = 'set'")
        }
        let pid: Int = try pool.withConnection {
            try $0.query("SELECT pg_backend_pid()::int8 AS pid").first!.decode("pid")
        }
        try TestDB.connect().execute("SELECT pg_terminate_backend(\(pid)::int4)")
        usleep(100_000)
        let (newPID, marker): (Int, String?) = try pool.withConnection {
            let row = try $0.query(
                "SELECT pg_backend_pid()::int8 AS pid, current_setting('bulwark.test_marker', true) AS marker"
            ).first!
            return (try row.decode("pid"), try row.decode("marker"))
        }
        #expect(newPID != pid)
        #expect(marker == "set", "a reconnected session runs the setup again (SET ROLE must not be lost)")
    }

    @Test func aConnectionLeftInATransactionIsRolledBackOnRelease() throws {
        let pool = Pool(ConnectionConfiguration(url: TestDB.url), size: 1)
        let c = try pool.acquire()
        try c.run(script: "BEGIN")
        pool.release(c)
        #expect(try pool.withConnection { $0.isIdle })
    }
}

@Suite struct MigratorTests {
    static func folder(_ files: [String: String]) throws -> String {
        let dir = NSTemporaryDirectory() + "migrations-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func appliesInOrderAndRecordsChecksums() throws {
        let (url, drop) = try TestDB.scratch()
        defer { drop() }
        let dir = try MigratorTests.folder([
            "0002_more.sql": "ALTER TABLE a ADD COLUMN note text;",
            "0001_first.sql": "CREATE TABLE a (id int PRIMARY KEY);",
        ])
        let db = try TestDB.connect(url)
        let migrator = try Migrator(directory: dir)
        #expect(try migrator.status(db).pending == [1, 2])
        #expect(try migrator.migrate(db) == [1, 2])
        #expect(try migrator.migrate(db) == [])
        #expect(try migrator.status(db).isCurrent)
        let rows = try db.query("SELECT version, checksum FROM schema_migrations ORDER BY version").rows
        #expect(try rows.map { try $0.decode("version", as: Int.self) } == [1, 2])
        #expect(try rows[0].decode("checksum", as: String.self) == migrator.migrations[0].checksum)
        #expect(migrator.migrations[0].checksum.count == 64)
    }

    @Test func refusesWhenAnAppliedFileChanged() throws {
        let (url, drop) = try TestDB.scratch()
        defer { drop() }
        let dir = try MigratorTests.folder(["0001_first.sql": "CREATE TABLE a (id int);"])
        let db = try TestDB.connect(url)
        try Migrator(directory: dir).migrate(db)
        try "CREATE TABLE a (id bigint);".write(toFile: dir + "/0001_first.sql", atomically: true, encoding: .utf8)
        try "CREATE TABLE b (id int);".write(toFile: dir + "/0002_next.sql", atomically: true, encoding: .utf8)
        let changed = try Migrator(directory: dir)
        #expect(try changed.status(db).changed == [1])
        #expect {
            try changed.migrate(db)
        } throws: { error in
            if case MigrationError.checksumMismatch(let v, _) = error { return v == 1 }
            return false
        }
        // Nothing after the refusal was applied.
        let b: Bool = try db.query("SELECT to_regclass('b') IS NOT NULL AS present").first!.decode("present")
        #expect(!b)
    }

    @Test func aFailingMigrationLeavesNoTrace() throws {
        let (url, drop) = try TestDB.scratch()
        defer { drop() }
        let dir = try MigratorTests.folder([
            "0001_ok.sql": "CREATE TABLE a (id int);",
            "0002_bad.sql": "CREATE TABLE b (id int); SELECT no_such_function();",
        ])
        let db = try TestDB.connect(url)
        #expect(throws: MigrationError.self) { try Migrator(directory: dir).migrate(db) }
        let versions = try db.query("SELECT version FROM schema_migrations").rows.map {
            try $0.decode("version", as: Int.self)
        }
        #expect(versions == [1])
        let b: Bool = try db.query("SELECT to_regclass('b') IS NOT NULL AS present").first!.decode("present")
        #expect(!b)
    }

    @Test func twoInstancesMigratingAtOnceDoNotRace() throws {
        let (url, drop) = try TestDB.scratch()
        defer { drop() }
        let dir = try MigratorTests.folder([
            "0001_slow.sql": "SELECT pg_sleep(0.3); CREATE TABLE a (id int);",
            "0002_next.sql": "CREATE TABLE b (id int);",
        ])
        let applied = Mutex<[[Int]]>([])
        let failures = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<3 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let versions = try Migrator(directory: dir).migrate(try TestDB.connect(url))
                    applied.withLock { $0.append(versions) }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }.start()
        }
        group.wait()
        #expect(failures.load(ordering: .relaxed) == 0)
        let all = applied.withLock { $0 }
        #expect(all.flatMap { $0 }.sorted() == [1, 2], "each version applied exactly once: \(all)")
    }

    @Test func badFileNamesAreRefused() throws {
        let dir = try MigratorTests.folder(["first.sql": "SELECT 1;"])
        #expect(throws: MigrationError.self) { try Migrator(directory: dir) }
    }
}
