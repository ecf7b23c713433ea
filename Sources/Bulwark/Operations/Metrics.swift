import Foundation
import Postgres

/// Request counters and latency histograms, rendered in Prometheus' text format.
public final class Metrics: @unchecked Sendable {
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private struct CounterKey: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    private struct Histogram {
        var counts = [Int](repeating: 0, count: Metrics.buckets.count)
        var count = 0
        var sum = 0.0
    }

    private struct State {
        var requests: [CounterKey: Int] = [:]
        var latency: [String: Histogram] = [:]
    }

    // NSLock rather than Synchronization.Mutex: see Pool. `state` is only touched under `lock`.
    private let lock = NSLock()
    private var state = State()

    private func withState<R>(_ body: (inout State) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&state)
    }

    public init() {}

    /// Methods counted under their own name; any other (a client may send anything) is counted as "other",
    /// so a request can neither break the exposition format nor add series.
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    public func observe(method: String, route: String, status: Int, seconds: Double) {
        let method = Metrics.knownMethods.contains(method) ? method : "other"
        withState { s in
            s.requests[CounterKey(method: method, route: route, status: status), default: 0] += 1
            var h = s.latency[route] ?? Histogram()
            if let i = Metrics.buckets.firstIndex(where: { seconds <= $0 }) { h.counts[i] += 1 }
            h.count += 1
            h.sum += seconds
            s.latency[route] = h
        }
    }

    public func render(pool: PoolStatistics) -> String {
        let snapshot = withState { $0 }
        var out = "# HELP bulwark_http_requests_total Requests answered, by method, route and status.\n"
        out += "# TYPE bulwark_http_requests_total counter\n"
        for (key, n) in snapshot.requests.sorted(by: {
            ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status)
        }) {
            out +=
                "bulwark_http_requests_total{method=\"\(key.method)\",route=\"\(escape(key.route))\",status=\"\(key.status)\"} \(n)\n"
        }
        out += "# HELP bulwark_http_request_duration_seconds Time to answer a request, by route.\n"
        out += "# TYPE bulwark_http_request_duration_seconds histogram\n"
        for (route, h) in snapshot.latency.sorted(by: { $0.key < $1.key }) {
            var cumulative = 0
            for (i, bound) in Metrics.buckets.enumerated() {
                cumulative += h.counts[i]
                out +=
                    "bulwark_http_request_duration_seconds_bucket{route=\"\(escape(route))\",le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "bulwark_http_request_duration_seconds_bucket{route=\"\(escape(route))\",le=\"+Inf\"} \(h.count)\n"
            out += "bulwark_http_request_duration_seconds_sum{route=\"\(escape(route))\"} \(h.sum)\n"
            out += "bulwark_http_request_duration_seconds_count{route=\"\(escape(route))\"} \(h.count)\n"
        }
        out += "# HELP bulwark_db_pool_size Connections the pool may hold.\n# TYPE bulwark_db_pool_size gauge\n"
        out += "bulwark_db_pool_size \(pool.size)\n"
        out += "# HELP bulwark_db_pool_in_use Connections lent out now.\n# TYPE bulwark_db_pool_in_use gauge\n"
        out += "bulwark_db_pool_in_use \(pool.inUse)\n"
        out += "# HELP bulwark_db_pool_idle Open connections waiting in the pool.\n# TYPE bulwark_db_pool_idle gauge\n"
        out += "bulwark_db_pool_idle \(pool.idle)\n"
        out +=
            "# HELP bulwark_db_pool_waits_total Checkouts that had to wait.\n# TYPE bulwark_db_pool_waits_total counter\n"
        out += "bulwark_db_pool_waits_total \(pool.waits)\n"
        out += "# HELP bulwark_db_pool_timeouts_total Checkouts that gave up waiting.\n"
        out += "# TYPE bulwark_db_pool_timeouts_total counter\n"
        out += "bulwark_db_pool_timeouts_total \(pool.timeouts)\n"
        return out
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
