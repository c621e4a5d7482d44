/// An answer's bytes kept with the version of what they were written from, in memory of
/// their own that the cache holding them frees when it drops or replaces them
/// (`GenerationalCache.discard`): reading them takes no reference count. (Both HTTP threads
/// serving the same answers counted the same arrays up and down — one contended cache line
/// per count, a tenth of a list page's CPU.) Read only under the cache's lock
/// (`GenerationalCache.withValues`).
struct KeptBytes: @unchecked Sendable {
    let version: Int64
    let bytes: UnsafeMutableBufferPointer<UInt8>

    init(version: Int64, bytes: ArraySlice<UInt8>) {
        self.version = version
        self.bytes = .allocate(capacity: bytes.count)
        _ = self.bytes.initialize(from: bytes)
    }

    /// The `discard` of a cache of these.
    @Sendable static func free(_ kept: KeptBytes) { kept.bytes.deallocate() }
}

extension GenerationalCache where Value == KeptBytes {
    /// Appends the kept answers of `keys`, comma-separated, when every one is kept at its
    /// version; else false and `out` is as it was. One taking of the lock for all of them.
    func appendKept(_ keys: [(key: Key, version: Int64)], to out: inout [UInt8]) -> Bool {
        withValues(keys.map(\.key)) { kept in
            var bytes = keys.count
            for (wanted, answer) in zip(keys, kept) {
                guard let answer, answer.version == wanted.version else { return false }
                bytes += answer.bytes.count
            }
            out.reserveCapacity(out.count + bytes + 64)
            for (index, answer) in kept.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: answer!.bytes)
            }
            return true
        }
    }
}
