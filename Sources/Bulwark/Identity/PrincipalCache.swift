import Foundation
import HTTPServer
import Postgres

/// Principals of recently seen tokens, so a read need not wait for its own token lookup. Nothing cached is
/// trusted on its own: a request authenticated from the cache re-checks the token (not revoked, not expired,
/// user active, role and vendor unchanged) in the same round trip as its first query, and sets its
/// row-level-security scope only if that check finds the token (`guardStatement`). A revocation or a
/// deactivation therefore stops the very next request, on every replica.
final class PrincipalCache: @unchecked Sendable {
    private struct Entry {
        let principal: Principal
        let storedAt: Double
    }

    /// After this long an entry is looked up again (which also notes the token's last use).
    let lifetimeSeconds: Double
    let capacity: Int
    private let lock = NSLock()
    private var entries: [[UInt8]: Entry] = [:]  // only touched under `lock`

    init(lifetimeSeconds: Double = 30, capacity: Int = 10_000) {
        self.lifetimeSeconds = lifetimeSeconds
        self.capacity = capacity
    }

    func principal(forHash hash: [UInt8], now: Double = Double(monotonicNanoseconds()) / 1e9) -> Principal? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[hash] else { return nil }
        guard now - entry.storedAt < lifetimeSeconds else {
            entries[hash] = nil
            return nil
        }
        return entry.principal
    }

    func store(_ principal: Principal, forHash hash: [UInt8], now: Double = Double(monotonicNanoseconds()) / 1e9) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[hash] = Entry(principal: principal, storedAt: now)
    }

    func forget(hash: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        entries[hash] = nil
    }

    /// The statement that re-checks a cached principal's token. It always returns one row (an aggregate) and,
    /// for a read, always makes the transaction read-only; `ok` says whether the token is still good, and
    /// only then does it set the row-level-security scope (else the scope is 'none', which shows nothing).
    static func guardStatement(_ principal: Principal, now: Date, readOnly isRead: Bool) -> SQL {
        let valid: SQL = """
            FROM api_tokens t JOIN users u ON u.id = t.user_id \
            WHERE t.id = \(principal.tokenID) AND t.user_id = \(principal.userID) AND t.revoked_at IS NULL \
            AND (t.expires_at IS NULL OR t.expires_at > \(now)) AND u.active AND u.role = \(principal.role.rawValue)
            """
        let readOnly: SQL = isRead ? "set_config('transaction_read_only', 'on', true)" : "NULL"
        switch VendorScope(principal) {
        case .all:
            return """
                SELECT count(*) = 1 AS ok, \(readOnly), \
                set_config('bulwark.scope', CASE WHEN count(*) = 1 THEN 'all' ELSE 'none' END, true) \(valid)
                """
        case .vendor(let id):
            return """
                SELECT count(*) = 1 AS ok, \(readOnly), \
                set_config('bulwark.scope', CASE WHEN count(*) = 1 THEN 'vendor' ELSE 'none' END, true), \
                set_config('bulwark.vendor_id', \(id.uuidString.lowercased()), true) \
                \(valid) AND u.vendor_id = \(id)
                """
        }
    }
}
