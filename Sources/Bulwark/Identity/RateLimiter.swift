import Foundation
import HTTPServer

/// Token buckets keyed by a string (a token id, a client address). In memory, per process: with several
/// replicas each enforces its own share.
public final class RateLimiter: @unchecked Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    public let ratePerSecond: Double
    public let burst: Double
    private let lock = NSLock()
    private var buckets: [String: Bucket] = [:]  // only touched under `lock`

    public init(ratePerSecond: Double, burst: Double) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    /// Takes one token; nil when allowed, else the whole seconds to wait before the next one.
    public func take(_ key: String, now: Double = Double(monotonicNanoseconds()) / 1e9) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        var b = buckets[key] ?? Bucket(tokens: burst, updated: now)
        b.tokens = min(burst, b.tokens + (now - b.updated) * ratePerSecond)
        b.updated = now
        if b.tokens >= 1 {
            b.tokens -= 1
            buckets[key] = b
            if buckets.count > 50_000 { prune(now) }
            return nil
        }
        buckets[key] = b
        return max(1, Int(((1 - b.tokens) / ratePerSecond).rounded(.up)))
    }

    /// Whether a key is out of tokens, without taking one.
    public func isExhausted(_ key: String, now: Double = Double(monotonicNanoseconds()) / 1e9) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard let b = buckets[key] else { return nil }
        let tokens = min(burst, b.tokens + (now - b.updated) * ratePerSecond)
        return tokens >= 1 ? nil : max(1, Int(((1 - tokens) / ratePerSecond).rounded(.up)))
    }

    /// Forgets buckets that have refilled: they hold no information.
    private func prune(_ now: Double) {
        buckets = buckets.filter { min(burst, $0.value.tokens + (now - $0.value.updated) * ratePerSecond) < burst }
    }

    static func tooMany(_ retryAfter: Int, _ detail: String) -> APIError {
        APIError(
            status: 429, slug: "rate-limited", title: "Too many requests", detail: detail,
            headers: [("Retry-After", String(retryAfter))])
    }
}
