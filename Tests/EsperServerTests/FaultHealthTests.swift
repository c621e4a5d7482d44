import EsperTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Health that tells the truth (issue 16): a full disk and a damaged SQLite file show at
/// `/healthz` with their reason; Nissa's state outlives kill -9.
@Suite(.serialized) struct FaultHealthTests {
    static func check(_ server: ServerHarness, _ name: String) throws -> [String: Any] {
        let body = try RawHTTP.json(try server.get("/healthz"))
        return (body["checks"] as? [String: Any])?[name] as? [String: Any] ?? [:]
    }

    /// A small tmpfs (needs root to mount; skipped otherwise), filled and freed.
    @Test func aFullDiskIsDegradedWithTheReasonAndRecovers() throws {
        guard getuid() == 0 else { return }
        let mountPoint = TemporaryDirectory("esper-tmpfs")
        guard Tools.find("mount").map({ (try? Tools.run($0, ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint.path]))?.status == 0 }) == true
        else { return }
        defer { _ = try? Tools.run(Tools.find("umount") ?? "/bin/umount", ["-l", mountPoint.path]) }
        let redis = try RedisTestServer()
        let data = TemporaryDirectory("esper-full")
        let server = try ServerHarness(
            environment: ["ESPER_DATA_DIR": mountPoint.path + "/var", "ESPER_STORAGE_CHECK_S": "1"], data: data, redis: redis)
        #expect(try Self.check(server, "storage")["status"] as? String == "ok")
        // Fill it: dd stops at "No space left on device".
        let filler = mountPoint.path + "/filler"
        _ = try Tools.run(Tools.find("dd") ?? "/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=1M", "count=64"])
        #expect(
            eventually(within: 15) {
                let storage = (try? Self.check(server, "storage")) ?? [:]
                return storage["status"] as? String == "degraded" && (storage["detail"] as? String)?.contains("No space left") == true
            })
        #expect(try server.get("/healthz").status == 503)
        unlink(filler)
        #expect(eventually(within: 15) { ((try? Self.check(server, "storage")) ?? [:])["status"] as? String == "ok" })
    }

    @Test func aDamagedRunRegistryIsNamedAtHealthzAndTheServerStillServes() throws {
        let redis = try RedisTestServer()
        let data = TemporaryDirectory("esper-corrupt")
        do {
            let server = try ServerHarness(data: data, redis: redis, configure: { $0.localWorkers = false })
            for index in 0..<60 {
                let config = #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [8]}, "epochs": 1, "learning_rate": 0.01, "seed": \#(index)}"#
                let created = try server.request("POST", "/api/v1/runs", json: config)
                #expect(created.status == 202, "\(created.text)")
            }
            #expect(try Self.check(server, "integrity")["status"] as? String == "ok")
        }
        // Everything into the main file first (the server may leave a WAL behind).
        let path = data.path + "/var/tolaria/runs.db"
        let python = try #require(Tools.find("python3"))
        _ = try Tools.run(python, ["-c", "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')", path])
        // Flip the b-tree page headers (type, free block, cell count) of every page after the
        // first (the schema on page 1 stays readable, so damage is named by table).
        var bytes = try #require(FileManager.default.contents(atPath: path).map { Array($0) })
        #expect(bytes.count > 8192)
        var page = 4096
        while page + 2048 < bytes.count {
            for offset in page + 1..<page + 6 { bytes[offset] ^= 0xA5 }
            page += 4096
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let server = try ServerHarness(data: data, redis: redis, configure: { $0.localWorkers = false })
        let integrity = try Self.check(server, "integrity")
        #expect(integrity["status"] as? String == "degraded")
        let detail = integrity["detail"] as? String ?? ""
        #expect(detail.contains("tolaria/runs.db"), "\(detail)")
        #expect(try server.get("/healthz").status == 503)
        // Still serving: version, health, and routes that do not need the damaged pages.
        #expect(try server.get("/api/v1/version").status == 200)
        #expect(try server.get("/api/v1/nissa/alerts").status == 200)
    }
}
