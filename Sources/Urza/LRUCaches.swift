import KernelRuntime

/// Most-recently-used metadata records, bounded by entry count (08 §3.4, default 128). Only
/// `get` uses it; lists always read the database.
struct MetadataCache {
    let capacity: Int
    private var entries: [String: (record: UrzaRecord, tick: UInt64)] = [:]
    private var tick: UInt64 = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var count: Int { entries.count }

    mutating func get(_ id: String) -> UrzaRecord? {
        guard let entry = entries[id] else { return nil }
        tick += 1
        entries[id] = (entry.record, tick)
        return entry.record
    }

    mutating func put(_ record: UrzaRecord) {
        tick += 1
        entries[record.blueprintId] = (record, tick)
        while entries.count > capacity, let oldest = entries.min(by: { $0.value.tick < $1.value.tick }) {
            entries.removeValue(forKey: oldest.key)
        }
    }

    mutating func remove(_ id: String) { entries.removeValue(forKey: id) }
}

/// Decoded, runnable kernels (not just metadata), bounded by bytes with an idle TTL (08 §3.4).
/// Keyed by blueprint id and tagged with the artifact hash, so a re-saved blueprint's old
/// kernel is never returned. Kernels are reference-counted objects: evicting one never frees a
/// kernel a seed still holds.
struct KernelCache {
    let byteBudget: Int
    let idleSeconds: Double
    private var entries: [String: Entry] = [:]
    private(set) var bytes = 0
    private var tick: UInt64 = 0

    struct Entry {
        let artifactSHA256: String
        let kernel: CompiledKernel
        var tick: UInt64
        var lastUsed: Double
    }

    init(byteBudget: Int, idleSeconds: Double) {
        self.byteBudget = max(0, byteBudget)
        self.idleSeconds = idleSeconds
    }

    var count: Int { entries.count }

    mutating func get(_ id: String, artifactSHA256: String, now: Double) -> CompiledKernel? {
        guard var entry = entries[id] else { return nil }
        guard entry.artifactSHA256 == artifactSHA256, now - entry.lastUsed <= idleSeconds else {
            remove(id)
            return nil
        }
        tick += 1
        entry.tick = tick
        entry.lastUsed = now
        entries[id] = entry
        return entry.kernel
    }

    mutating func put(_ id: String, artifactSHA256: String, kernel: CompiledKernel, now: Double) {
        remove(id)
        guard kernel.byteSize <= byteBudget else { return }
        tick += 1
        entries[id] = Entry(artifactSHA256: artifactSHA256, kernel: kernel, tick: tick, lastUsed: now)
        bytes += kernel.byteSize
        while bytes > byteBudget, let oldest = entries.min(by: { $0.value.tick < $1.value.tick }) {
            remove(oldest.key)
        }
    }

    mutating func remove(_ id: String) {
        if let entry = entries.removeValue(forKey: id) { bytes -= entry.kernel.byteSize }
    }
}
