import Dispatch
import Foundation

/// Figures the pool reports for metrics.
public struct PoolStatistics: Sendable {
    public var size: Int
    public var inUse: Int
    public var idle: Int
    /// Checkouts that found no connection free and had to wait.
    public var waits: Int
    /// Waits that gave up after the wait bound.
    public var timeouts: Int
}

/// A bounded pool of connections with a bounded wait. Connections are opened lazily, checked on return,
/// and a broken one is dropped and replaced by a fresh one on a later checkout.
public final class Pool: @unchecked Sendable {
    fileprivate struct State {
        var idle: [Connection] = []
        var inUse = 0
        var waits = 0
        var timeouts = 0
        var closed = false
    }

    public let size: Int
    public let acquireTimeout: Double
    private let configuration: ConnectionConfiguration
    private let slots: DispatchSemaphore
    // A plain pthread mutex (NSLock): Synchronization.Mutex uses priority-inheritance futexes on Linux,
    // which cost far more under the contention 16 workers produce. `state` is only touched under `lock`.
    private let lock = NSLock()
    private var _state = State()
    private let setup: @Sendable (Connection) throws -> Void

    /// - Parameters:
    ///   - acquireTimeout: seconds a caller waits for a free connection before `PostgresError.poolTimeout`.
    ///   - setup: run on every new session, including one a connection opens again after the server
    ///     dropped it (session settings such as SET ROLE must survive a database restart).
    public init(
        _ configuration: ConnectionConfiguration, size: Int, acquireTimeout: Double = 5,
        setup: @escaping @Sendable (Connection) throws -> Void = { _ in }
    ) {
        precondition(size > 0, "pool size must be positive")
        self.size = size
        self.acquireTimeout = acquireTimeout
        self.configuration = configuration
        self.slots = DispatchSemaphore(value: size)
        self.setup = setup
    }

    public var statistics: PoolStatistics {
        withState {
            PoolStatistics(size: size, inUse: $0.inUse, idle: $0.idle.count, waits: $0.waits, timeouts: $0.timeouts)
        }
    }

    /// Borrows a connection; it must be given back with `release(_:)`.
    public func acquire() throws -> Connection {
        if withState({ $0.closed }) { throw PostgresError.poolClosed }
        if slots.wait(timeout: .now()) != .success {
            withState { $0.waits += 1 }
            if slots.wait(timeout: .now() + acquireTimeout) != .success {
                withState { $0.timeouts += 1 }
                throw PostgresError.poolTimeout(waitedSeconds: acquireTimeout)
            }
        }
        let reused: Connection? = withState { s in
            s.inUse += 1
            return s.idle.popLast()
        }
        if let reused, reused.isHealthy {
            reused.freshCheckout = true
            return reused
        }
        do {
            let connection = try Connection(configuration, sessionSetup: setup)
            return connection
        } catch {
            withState { $0.inUse -= 1 }
            slots.signal()
            throw error
        }
    }

    /// Gives a connection back. One left inside a transaction is rolled back; a broken one is dropped.
    public func release(_ connection: Connection) {
        // A connection still owed a result (a COMMIT sent without waiting) goes back as it is; its next
        // user reads that result first.
        let owed = connection.hasPendingResults
        if !owed { connection.rollback() }
        let keep = connection.isHealthy && (owed || connection.isIdle)
        withState { s in
            s.inUse -= 1
            if keep && !s.closed { s.idle.append(connection) }
        }
        slots.signal()
    }

    public func withConnection<R>(_ body: (Connection) throws -> R) throws -> R {
        let connection = try acquire()
        defer { release(connection) }
        return try body(connection)
    }

    /// `withConnection` plus `transaction`.
    public func transaction<R>(
        isolation: Connection.Isolation = .readCommitted, _ body: (Connection) throws -> R
    ) throws -> R {
        try withConnection { try $0.transaction(isolation: isolation, body) }
    }

    /// Refuses new checkouts and closes idle connections; busy ones close when they are released.
    public func close() {
        let idle = withState { s -> [Connection] in
            s.closed = true
            defer { s.idle.removeAll() }
            return s.idle
        }
        _ = idle  // dropped here: deinit closes each
    }
}

extension Pool {
    fileprivate func withState<R>(_ body: (inout State) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&_state)
    }
}
