import EsperStorage

#if canImport(Glibc)
    import Glibc
#endif

/// A test hook for crash-recovery tests: with `ESPER_PAUSE_AT=<point>` (or `<point>@<id>`), the
/// process stops when it reaches that named point of the forge/save path — it writes the point's
/// name to the file named by `ESPER_PAUSE_MARKER` and sleeps forever — so a test can `kill -9`
/// it exactly there. Inert (one load of a cached value) unless the variable is set.
///
/// Points: `forge.before_wal`, `forge.after_wal`, `compile.after_wal`, `compile.mid_artifact`
/// (artifact bytes written to a temporary file, not yet renamed), `forge.after_artifact`
/// (artifact complete, before the Urza save), `urza.after_wal`, `urza.after_commit`,
/// `forge.after_save` (row committed, before the forge WAL update).
public enum PausePoint {
    private static let configured: (point: String, blueprintId: String?, marker: String?)? = {
        guard let raw = getenv("ESPER_PAUSE_AT").map({ String(cString: $0) }), !raw.isEmpty else { return nil }
        let parts = raw.split(separator: "@", maxSplits: 1).map(String.init)
        let marker = getenv("ESPER_PAUSE_MARKER").map { String(cString: $0) }
        return (parts[0], parts.count > 1 ? parts[1] : nil, marker)
    }()

    public static func reach(_ point: String, blueprintId: String) {
        guard let configured, configured.point == point,
            configured.blueprintId == nil || configured.blueprintId == blueprintId
        else { return }
        if let marker = configured.marker {
            try? AtomicFile.write(Array("\(point)@\(blueprintId)\n".utf8), to: marker)
        }
        while true { sleep(3600) }
    }
}
