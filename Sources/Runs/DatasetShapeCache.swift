// The feature and class counts of data sets validation already loaded, by spec and file identity (bounded, LRU).
import Foundation
import Synchronization
public import Tolaria

#if canImport(Glibc)
    import Glibc
#endif

/// Validating a run config loads its data set only to learn its feature and class counts; a
/// study submits many runs of the same data set (the bundled digits took 286 ms to decompress
/// and parse per run). This keeps those counts by data-set spec — and, for data sets read
/// from files, by each file's device, inode, size and modification time (ns), so a file
/// replaced or rewritten is loaded again. Failed loads are not kept (their problems are
/// reported each time). At most `capacity` entries; the least recently used goes first.
public final class DatasetShapeCache: Sendable {
    public struct Shape: Sendable, Equatable {
        public var inputs: Int
        public var classes: Int

        public init(inputs: Int, classes: Int) {
            self.inputs = inputs
            self.classes = classes
        }
    }

    public let capacity: Int
    let directory: String
    /// A spec and the identity of every file it names (device, inode, size, modification
    /// time). Compared as values: encoding the spec to JSON for a string key cost 2 % of a
    /// run create's CPU.
    struct Key: Hashable {
        var spec: DatasetSpec
        var files: [FileIdentity]
    }

    struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int64
        var modifiedNanoseconds: Int64
    }

    /// Keys, least recently used first; shapes by key.
    private let state = Mutex<(order: [Key], shapes: [Key: Shape])>(([], [:]))
    private let counts = Mutex<(hits: Int, misses: Int)>((0, 0))

    public init(directory: String, capacity: Int = 32) {
        self.directory = directory
        self.capacity = max(1, capacity)
    }

    public var hits: Int { counts.withLock { $0.hits } }
    public var misses: Int { counts.withLock { $0.misses } }
    public var count: Int { state.withLock { $0.shapes.count } }

    /// The spec's shape: kept, or from `load` (then kept when the key is known).
    public func shape(
        of spec: DatasetSpec, load: () throws(RunConfigError) -> Shape
    ) throws(RunConfigError) -> Shape {
        guard let key = key(spec) else { return try load() }
        let kept: Shape? = state.withLock { state in
            guard let shape = state.shapes[key] else { return nil }
            state.order.removeAll { $0 == key }
            state.order.append(key)
            return shape
        }
        if let kept {
            counts.withLock { $0.hits += 1 }
            return kept
        }
        counts.withLock { $0.misses += 1 }
        let shape = try load()
        state.withLock { state in
            if state.shapes.updateValue(shape, forKey: key) == nil { state.order.append(key) }
            while state.order.count > capacity { state.shapes[state.order.removeFirst()] = nil }
        }
        return shape
    }

    /// The spec plus the identity of every file it names; nil when a file cannot be read
    /// (the loader then reports it).
    func key(_ spec: DatasetSpec) -> Key? {
        var key = Key(spec: spec, files: [])
        for relative in [spec.path, spec.images, spec.labels, spec.testPath, spec.testImages, spec.testLabels].compactMap({ $0 }) {
            var info = stat()
            guard stat(directory + "/" + relative, &info) == 0 else { return nil }
            key.files.append(
                FileIdentity(
                    device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                    modifiedSeconds: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int64(info.st_mtim.tv_nsec)))
        }
        return key
    }
}
