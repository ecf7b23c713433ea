import Foundation

/// A small in-process cache for things that never change once written (a published questionnaire
/// version, an imported catalog's requirements), so it can never be stale. Bounded: when full it starts
/// over rather than tracking recency.
final class ImmutableCache<Key: Hashable & Sendable, Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [Key: Value] = [:]  // only touched under `lock`
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func value(_ key: Key, load: () throws -> Value?) rethrows -> Value? {
        lock.lock()
        if let hit = entries[key] {
            lock.unlock()
            return hit
        }
        lock.unlock()
        guard let loaded = try load() else { return nil }
        lock.lock()
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = loaded
        lock.unlock()
        return loaded
    }
}
