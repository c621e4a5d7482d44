import Foundation
import Synchronization

/// The risk engine's memory-utilisation signal (03-tamiyo §9: threshold 0.80, emergency 0.95):
/// this process's resident memory against the memory it may use. The runs of a process share
/// its memory, so the figure is the process's, measured where it is real: the resident set
/// from `/proc/self/statm` against the tightest of the cgroup limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`), the machine's `MemTotal`, and an operator's limit
/// (`TAMIYO_MEMORY_LIMIT_BYTES`). One read of a small /proc file per boundary (microseconds).
public final class MemoryProbe: Sendable {
    /// The operator's limit; nil: the cgroup's or the machine's.
    private let configured: Mutex<UInt64?>
    /// The cgroup's or the machine's limit, read once (it does not change while we run).
    private let detected: UInt64?

    public init(limitBytes: UInt64? = nil) {
        configured = Mutex(limitBytes)
        detected = MemoryProbe.detectLimit()
    }

    /// The limit the utilisation is measured against (nil: none could be read).
    public var limitBytes: UInt64? {
        let own = configured.withLock { $0 }
        return [own, detected].compactMap { $0 }.filter { $0 > 0 }.min()
    }

    /// Sets (or clears, with nil) the operator's limit.
    public func setLimit(_ bytes: UInt64?) { configured.withLock { $0 = bytes } }

    /// Resident set size of this process in bytes (nil where /proc is unavailable).
    public static func residentBytes() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 2, let pages = UInt64(fields[1]) else { return nil }
        return pages * UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
    }

    /// Resident bytes ÷ limit, ≥ 0 (above 1 when the limit is below the resident set); 0 when
    /// either cannot be read — no figure is no risk, not the worst risk.
    public func utilisation() -> Double {
        guard let limit = limitBytes, let resident = MemoryProbe.residentBytes() else { return 0 }
        return Double(resident) / Double(limit)
    }

    /// cgroup v2, then v1 (an unlimited cgroup reads "max" or a huge number), then MemTotal.
    static func detectLimit() -> UInt64? {
        func read(_ path: String) -> String? {
            (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var limits: [UInt64] = []
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = read(path), let bytes = UInt64(text), bytes < (1 << 60) { limits.append(bytes) }
        }
        if let info = read("/proc/meminfo"),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kib = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) })
        {
            limits.append(kib * 1024)
        }
        return limits.min()
    }
}
