import CLibPQ
import Foundation

/// The result of one query: rows in binary format. Owns its PGresult.
public final class QueryResult {
    let raw: OpaquePointer
    public let rowCount: Int

    init(_ raw: OpaquePointer) {
        self.raw = raw
        rowCount = Int(PQntuples(raw))
    }

    deinit { PQclear(raw) }

    /// Rows affected by an INSERT, UPDATE or DELETE.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(raw))) ?? 0 }

    public var rows: [Row] { (0..<rowCount).map { Row(result: self, index: $0) } }

    public var first: Row? { rowCount > 0 ? Row(result: self, index: 0) : nil }

    /// Column names to indices, read once per result: rows are decoded by name, column after column, and
    /// PQfnumber would copy the name and compare it with every column each time.
    private lazy var indices: [String: Int] = {
        var map: [String: Int] = [:]
        let count = Int(PQnfields(raw))
        map.reserveCapacity(count)
        for i in 0..<count {
            // The first of two columns with one name wins, as with PQfnumber.
            if let name = PQfname(raw, Int32(i)) { map[String(cString: name)] = map[String(cString: name)] ?? i }
        }
        return map
    }()

    func columnIndex(_ name: String) -> Int? { indices[name] }
}

/// One row of a result; columns are read by name and type, with errors that name the column.
public struct Row {
    let result: QueryResult
    let index: Int

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let c = result.columnIndex(column) else {
            throw PostgresError.decoding(column: column, message: "no such column in the result")
        }
        let r = result.raw
        if PQgetisnull(r, Int32(index), Int32(c)) != 0 { return try T.decodeNull(column: column) }
        let length = Int(PQgetlength(r, Int32(index), Int32(c)))
        let bytes = UnsafeRawBufferPointer(start: PQgetvalue(r, Int32(index), Int32(c)), count: length)
        return try T.decode(bytes, oid: PQftype(r, Int32(c)), column: column)
    }

    public func hasColumn(_ column: String) -> Bool { result.columnIndex(column) != nil }

    public subscript<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) -> T {
        get throws { try decode(column, as: type) }
    }
}

/// Where to connect: a libpq URL or key/value string, plus extra parameters.
public struct ConnectionConfiguration: Sendable {
    public var url: String
    public var applicationName: String
    public var connectTimeoutSeconds: Int

    public init(url: String, applicationName: String = "bulwark", connectTimeoutSeconds: Int = 5) {
        self.url = url
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}

/// One libpq connection. Not thread-safe: it is used by one thread at a time, handed between threads only
/// through `Pool`, which guarantees exclusive use — hence `@unchecked Sendable`.
public final class Connection: @unchecked Sendable {
    private var raw: OpaquePointer
    private let configuration: ConnectionConfiguration
    private var statements: [String: String] = [:]
    private static let maxCachedStatements = 512
    /// Set by the pool on checkout: the first statement after an idle period may meet a dead socket
    /// (the server restarted); such a statement is retried once on a fresh connection.
    var freshCheckout = false
    /// Statements run on this connection (for tests that check a feature's query count).
    public private(set) var queryCount = 0
    /// Commands sent with `send(script:)` whose results have not been read yet.
    private var pendingResults = 0
    /// A transaction opened by `beginLazily`: its BEGIN and setup statements have not been sent yet; they go
    /// out in one pipeline with the transaction's first query.
    private var lazyBegin: LazyBegin?

    /// True while a command sent without waiting is still owed a result (it is read before the next one).
    public var hasPendingResults: Bool { pendingResults > 0 }

    /// Run on every new session, the first and any after a reconnect (session settings such as SET ROLE).
    private let sessionSetup: ((Connection) throws -> Void)?

    public init(_ configuration: ConnectionConfiguration, sessionSetup: ((Connection) throws -> Void)? = nil) throws {
        self.configuration = configuration
        self.sessionSetup = sessionSetup
        raw = try Connection.open(configuration)
        try sessionSetup?(self)
    }

    deinit { PQfinish(raw) }

    private static func open(_ configuration: ConnectionConfiguration) throws -> OpaquePointer {
        // Parameters go through PQconnectdbParams; entries before the expanded URL are defaults it may override.
        let keys = ["application_name", "connect_timeout", "dbname"]
        let values = [configuration.applicationName, String(configuration.connectTimeoutSeconds), configuration.url]
        let conn: OpaquePointer? = withCStrings(keys) { k in
            withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let conn else { throw PostgresError.connectionFailure(message: "libpq could not allocate a connection") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(conn)
            throw PostgresError.connectionFailure(message: message)
        }
        PQsetNoticeProcessor(conn, ignoreNotice, nil)
        return conn
    }

    public var isHealthy: Bool { !poisoned && PQstatus(raw) == CONNECTION_OK }
    /// Set when the connection is left in a state it cannot be trusted in (the pool then drops it).
    private var poisoned = false

    /// True when no transaction is open on the connection (results still owed are read first).
    public var isIdle: Bool {
        if lazyBegin != nil { return false }
        if pendingResults > 0 { try? drainPending() }
        return PQtransactionStatus(raw) == PQTRANS_IDLE
    }

    /// Sends a command without waiting for its result; the result is read before the connection's next
    /// command. For a read-only transaction's COMMIT, so the response need not wait for that round trip.
    public func send(script: String) throws {
        try drainPending()
        try flushLazyBegin()
        guard PQsendQuery(raw, script) == 1 else { throw PostgresError.connectionFailure(message: errorMessage) }
        pendingResults += 1
    }

    /// Reads the results owed for commands sent without waiting. Their errors belong to a request that has
    /// finished (a read-only COMMIT cannot lose anything), so only a broken connection is reported.
    func drainPending() throws {
        while pendingResults > 0 {
            pendingResults -= 1
            while let result = PQgetResult(raw) { PQclear(result) }
            if PQstatus(raw) != CONNECTION_OK { throw PostgresError.connectionFailure(message: errorMessage) }
        }
    }

    var errorMessage: String {
        String(cString: PQerrorMessage(raw)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Transactions begun lazily

    /// A transaction opened by `beginLazily`, not yet sent.
    private struct LazyBegin {
        var statements: [SQL]
        /// The statement (an index into `statements`) that must return a row, else `setupRefused`.
        var guardIndex: Int?
        /// No BEGIN: the setup goes out again with every query, each pipeline its own implicit transaction.
        var implicit = false
        /// An implicit one whose guard has already returned a row.
        var guardPassed = false

        /// The same setup as a real transaction, BEGIN first.
        var explicit: LazyBegin {
            LazyBegin(statements: ["BEGIN"] + statements, guardIndex: guardIndex.map { $0 + 1 })
        }
    }

    /// A guard holds when it returns a row, and, where it has a boolean column `ok`, that column is true (so a
    /// guard can be an aggregate that always returns one row and still runs its side effects).
    static func guardHolds(_ result: QueryResult) throws -> Bool {
        guard let row = result.first else { return false }
        return row.hasColumn("ok") ? try row.decode("ok", as: Bool.self) : true
    }

    /// Opens a transaction whose `BEGIN` and `setup` statements are sent together with its first query, in one
    /// round trip (libpq pipeline mode). A transaction that never runs a query costs no round trip at all.
    /// With `guardedBy`, that statement goes out after `setup` and must hold (`guardHolds`): when it does
    /// not, the transaction's first query (or `commit`) throws `PostgresError.setupRefused` and the
    /// caller rolls back. It lets a cached fact (a token still valid) be re-checked in the same round trip.
    ///
    /// With `implicit`, for reads, no BEGIN or COMMIT is sent at all: the setup (and guard) go out again in
    /// front of every query, and each pipeline runs as one implicit transaction (it ends at its Sync), so a
    /// transaction-local setting such as the row-level-security scope holds for that query. At READ
    /// COMMITTED every statement takes its own snapshot anyway; what a read loses is only the two statements.
    /// Anything that needs a real transaction (`transaction`, `run(script:)`, `send(script:)`) turns it
    /// into one first.
    public func beginLazily(_ setup: [SQL], guardedBy check: SQL? = nil, implicit: Bool = false) throws {
        try drainPending()
        guard lazyBegin == nil, PQtransactionStatus(raw) == PQTRANS_IDLE else {
            throw PostgresError.server(sqlstate: "25001", message: "a transaction is already open")
        }
        var statements: [SQL] = setup
        var guardIndex: Int?
        if let check {
            guardIndex = statements.count
            statements.append(check)
        }
        let begin = LazyBegin(statements: statements, guardIndex: guardIndex, implicit: true)
        lazyBegin = implicit ? begin : begin.explicit
    }

    /// Commits the open transaction. `waiting: false` sends the COMMIT and reads its result before the
    /// connection's next command (for reads, which have nothing to lose). A lazy transaction that never
    /// ran a query just ends, once its guard (if any) has returned a row.
    public func commit(waiting: Bool = true) throws {
        if let begin = lazyBegin {
            lazyBegin = nil
            if !begin.guardPassed, let index = begin.guardIndex,
                try !Connection.guardHolds(query(begin.statements[index]))
            {
                throw PostgresError.setupRefused
            }
            return
        }
        if waiting { try run(script: "COMMIT") } else { try send(script: "COMMIT") }
    }

    /// Rolls back whatever transaction is open, if any (best effort: a broken connection has none left).
    public func rollback() {
        if lazyBegin != nil {
            lazyBegin = nil
            return
        }
        if isHealthy && !isIdle { try? run(script: "ROLLBACK") }
    }

    /// Sends a pending lazy BEGIN on its own, before a command that cannot join a pipeline.
    private func flushLazyBegin() throws {
        guard var begin = lazyBegin else { return }
        if begin.implicit {
            begin = begin.explicit
            lazyBegin = begin
        }
        _ = try runPipeline(begin.statements.map { $0.rendered }, guardIndex: begin.guardIndex)
    }

    /// Sends the commands in one pipeline and one round trip, each as a cached prepared statement (prepared
    /// in the same pipeline on first use); returns the last one's result. The first error among them is
    /// thrown. Clears a lazy BEGIN once it has run.
    private func runPipeline(_ commands: [(text: String, binds: [PostgresBind])], guardIndex: Int?)
        throws -> QueryResult
    {
        guard PQenterPipelineMode(raw) == 1 else { throw PostgresError.connectionFailure(message: errorMessage) }
        defer { leavePipeline() }
        // What each result in the pipeline answers: a Parse (the statement's cache key and name) or a command.
        enum Expected {
            case prepared(key: String, name: String)
            case command(Int)
        }
        var expected: [Expected] = []
        var preparing: Set<String> = []
        for (index, (text, binds)) in commands.enumerated() {
            var key = text
            for b in binds { key += "\u{0}\(b.oid)" }
            var name = statements[key]
            if name == nil, preparing.count + statements.count < Connection.maxCachedStatements {
                let fresh = "s\(statements.count + preparing.count + 1)"
                guard PQsendPrepare(raw, fresh, text, Int32(binds.count), binds.map { $0.oid }) == 1 else {
                    throw PostgresError.connectionFailure(message: errorMessage)
                }
                preparing.insert(fresh)
                expected.append(.prepared(key: key, name: fresh))
                name = fresh
            }
            let sent = try withParameters(binds) { n, values, lengths, formats in
                if let name { return PQsendQueryPrepared(raw, name, n, values, lengths, formats, 1) }
                return PQsendQueryParams(raw, text, n, binds.map { $0.oid }, values, lengths, formats, 1)
            }
            guard sent == 1 else { throw PostgresError.connectionFailure(message: errorMessage) }
            expected.append(.command(index))
        }
        guard PQpipelineSync(raw) == 1 else { throw PostgresError.connectionFailure(message: errorMessage) }
        queryCount += 1

        var firstError: Error?
        var last: QueryResult?
        for step in expected {
            guard let result = PQgetResult(raw) else { throw PostgresError.connectionFailure(message: errorMessage) }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
            } else {
                do {
                    let checked = try check(result)
                    switch step {
                    case .prepared(let key, let name):
                        statements[key] = name
                    case .command(let index):
                        // BEGIN ran: the transaction is open.
                        if index == 0, let begin = lazyBegin, !begin.implicit { lazyBegin = nil }
                        if index == guardIndex, try !Connection.guardHolds(checked), firstError == nil {
                            firstError = PostgresError.setupRefused
                        }
                        if index == commands.count - 1 { last = checked }
                    }
                } catch {
                    if case PostgresError.connectionFailure = error { throw error }
                    if firstError == nil { firstError = error }
                }
            }
            while let extra = PQgetResult(raw) { PQclear(extra) }
        }
        if let firstError { throw firstError }
        guard let last else { throw PostgresError.connectionFailure(message: "the pipeline returned no result") }
        return last
    }

    /// Reads what is left of a pipeline (up to its sync point) and returns to normal mode; a connection that
    /// cannot leave it is broken and is reset, so it never goes back to the pool half-way through.
    private func leavePipeline() {
        var guardCount = 0
        while PQexitPipelineMode(raw) != 1 && guardCount < 64 {
            guardCount += 1
            guard let result = PQgetResult(raw) else { continue }
            PQclear(result)
        }
        if PQpipelineStatus(raw) != PQ_PIPELINE_OFF { poisoned = true }
    }

    /// Replaces a broken socket with a new connection; prepared statements are gone with the old one.
    func reconnect() throws {
        let fresh = try Connection.open(configuration)
        PQfinish(raw)
        raw = fresh
        statements.removeAll()
        pendingResults = 0
        try sessionSetup?(self)
    }

    // MARK: - Queries

    /// Runs a query with bound parameters and returns its rows (binary format).
    @discardableResult
    public func query(_ sql: SQL) throws -> QueryResult {
        let (text, binds) = sql.rendered
        return try retryingOnStaleConnection {
            try drainPending()
            return try run(text, binds)
        }
    }

    /// Runs a statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: SQL) throws -> Int { try query(sql).affectedRows }

    /// Runs one or more statements without parameters (simple protocol), e.g. a migration file or BEGIN.
    public func run(script: String) throws {
        _ = try retryingOnStaleConnection {
            try drainPending()
            try flushLazyBegin()
            return try check(PQexec(raw, script))
        }
    }

    private func retryingOnStaleConnection<R>(_ body: () throws -> R) throws -> R {
        let wasFresh = freshCheckout
        freshCheckout = false
        do {
            return try body()
        } catch let error as PostgresError {
            guard case .connectionFailure = error, wasFresh else { throw error }
            try reconnect()
            return try body()
        }
    }

    private func run(_ text: String, _ binds: [PostgresBind]) throws -> QueryResult {
        if let begin = lazyBegin {
            let result = try runPipeline(
                begin.statements.map { $0.rendered } + [(text, binds)], guardIndex: begin.guardIndex)
            if begin.implicit { lazyBegin?.guardPassed = true }
            return result
        }
        queryCount += 1
        if let name = try preparedName(text, binds) {
            return try withParameters(binds) { n, values, lengths, formats in
                try check(PQexecPrepared(raw, name, n, values, lengths, formats, 1))
            }
        }
        let types = binds.map { $0.oid }
        return try withParameters(binds) { n, values, lengths, formats in
            try check(PQexecParams(raw, text, n, types, values, lengths, formats, 1))
        }
    }

    /// The cached prepared statement for this text and these parameter types, preparing it on first use.
    private func preparedName(_ text: String, _ binds: [PostgresBind]) throws -> String? {
        var key = text
        for b in binds { key += "\u{0}\(b.oid)" }
        if let name = statements[key] { return name }
        guard statements.count < Connection.maxCachedStatements else { return nil }
        let name = "s\(statements.count + 1)"
        let types = binds.map { $0.oid }
        _ = try check(PQprepare(raw, name, text, Int32(binds.count), types))
        statements[key] = name
        return name
    }

    private func withParameters<R>(
        _ binds: [PostgresBind],
        _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> R
    ) throws -> R {
        let lengths = binds.map { Int32($0.bytes?.count ?? 0) }
        let formats = binds.map { Int32($0.binary ? 1 : 0) }
        // Each value is copied into a C buffer (text values NUL-terminated) that lives until the call returns.
        let buffers: [UnsafeMutablePointer<CChar>?] = binds.map { b in
            guard let bytes = b.bytes else { return nil }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes { src in
                if let base = src.baseAddress {
                    UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            p[bytes.count] = 0
            return p
        }
        defer { for p in buffers { p?.deallocate() } }
        let pointers: [UnsafePointer<CChar>?] = buffers.map { $0.map { UnsafePointer($0) } }
        return try pointers.withUnsafeBufferPointer { values in
            try body(Int32(binds.count), values.baseAddress, lengths, formats)
        }
    }

    private func check(_ result: OpaquePointer?) throws -> QueryResult {
        guard let result else {
            throw PostgresError.connectionFailure(message: errorMessage)
        }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE, PGRES_COPY_OUT, PGRES_COPY_IN:
            return QueryResult(result)
        default:
            defer { PQclear(result) }
            let field = { (code: UInt8) -> String in
                PQresultErrorField(result, Int32(code)).map { String(cString: $0) } ?? ""
            }
            let sqlstate = field(UInt8(ascii: "C"))
            let message = field(UInt8(ascii: "M"))
            if sqlstate.isEmpty || PQstatus(raw) != CONNECTION_OK {
                let text = message.isEmpty ? errorMessage : message
                throw PostgresError.connectionFailure(message: text)
            }
            if sqlstate == "26000" { statements.removeAll() }  // a prepared statement vanished (DISCARD ALL?)
            throw PostgresError.classify(sqlstate: sqlstate, constraint: field(UInt8(ascii: "n")), message: message)
        }
    }

    // MARK: - Transactions

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// Runs `body` inside BEGIN/COMMIT; rolls back when it throws. A serialization failure or deadlock
    /// retries the whole body, at most `attempts` times in all. Inside an open transaction (a request's
    /// own), `body` simply joins it: the outer transaction commits or rolls back everything together.
    public func transaction<R>(
        isolation: Isolation = .readCommitted, attempts: Int = 3, _ body: (Connection) throws -> R
    ) throws -> R {
        try drainPending()
        if lazyBegin?.implicit == true { try flushLazyBegin() }  // a real transaction from here on
        if !isIdle { return try body(self) }
        var attempt = 1
        while true {
            try run(script: "BEGIN ISOLATION LEVEL \(isolation.rawValue)")
            do {
                let value = try body(self)
                try run(script: "COMMIT")
                return value
            } catch {
                if isHealthy && !isIdle { try? run(script: "ROLLBACK") }
                if case PostgresError.serializationFailure = error, attempt < attempts {
                    attempt += 1
                    usleep(UInt32.random(in: 1_000...(10_000 * UInt32(attempt))))
                    continue
                }
                throw error
            }
        }
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
    defer { for p in copies { free(p) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Server notices ("relation already exists, skipping") are not errors; libpq would print them to stderr.
private func ignoreNotice(_ arg: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {}
