import EsperStorage
import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Testing
import Urza

/// Kill -9 of a forge subprocess (`esper forge`) at named points of the compile/save path,
/// then a restart: the catalog ends complete, every blueprint stored exactly once, every WAL
/// gone (06 §2's crash matrix). The subprocess stops itself at the point
/// (`ESPER_PAUSE_AT`) and the test kills it there.
@Suite struct ForgeCrashTests {
    static let points = [
        "forge.before_wal",  // nothing written yet
        "forge.after_wal",  // pending list persisted, nothing compiled
        "compile.after_wal@BP003",  // compiler WAL names BP003, no artifact
        "compile.mid_artifact@BP003",  // artifact bytes in a .tmp file, not renamed ("during a write")
        "forge.after_artifact@BP003",  // artifact complete, no Urza row
        "urza.after_wal@BP003",  // Urza WAL written, row not committed
        "urza.after_commit@BP003",  // row committed, Urza WAL not yet deleted
        "forge.after_save@BP003",  // row committed, forge WAL still lists BP003
    ]

    @Test(arguments: ForgeCrashTests.points)
    func killedAtAPointThenRestartedEndsComplete(point: String) throws {
        let directory = TemporaryDirectory("forge-crash")
        let data = directory.path + "/var"
        let marker = directory.path + "/paused"
        let executable = EsperBinary.path

        let victim = try forge(executable, data: data, extra: ["ESPER_PAUSE_AT": point, "ESPER_PAUSE_MARKER": marker])
        let paused = eventually(within: 240) { FileManager.default.fileExists(atPath: marker) || !victim.isRunning }
        #expect(paused && victim.isRunning, "\(point): the forge did not reach the point")
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        #expect(victim.terminationReason == .uncaughtSignal)

        let restart = try forge(executable, data: data, extra: [:])
        restart.waitUntilExit()
        #expect(restart.terminationStatus == 0, "\(point): the restarted forge failed")
        try expectCompleteCatalog(data, point: point)

        // A third run finds nothing to do.
        let idle = try forge(executable, data: data, extra: [:])
        idle.waitUntilExit()
        #expect(idle.terminationStatus == 0)
        let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: data + "/urza"))
        #expect(urza.listAll().count == 50)
    }

    private func forge(_ executable: String, data: String, extra: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["forge", "--data-dir", data]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ESPER_") }
        environment["ESPER_COMPILE_STRATEGY"] = "emergency"
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    private func expectCompleteCatalog(_ data: String, point: String) throws {
        let fm = FileManager.default
        let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: data + "/urza"))
        let ids = urza.listAll().map(\.blueprintId)
        #expect(ids == (1...50).map { String(format: "BP%03d", $0) }, "\(point): \(ids.count) blueprints stored")
        let report = urza.verifyAll()
        #expect(report.available == 50 && report.newlyMarked.isEmpty, "\(point): \(report)")
        for id in ids {
            let files = (try? fm.contentsOfDirectory(atPath: data + "/urza/artifacts/" + id)) ?? []
            #expect(files.count == 1, "\(point): \(id) has \(files)")
            #expect(try urza.fetchKernel(id, allowQuarantine: true).kernel.blueprintId == id)
        }
        for wal in ["/urza/forge_wal.json", "/urza/urza_wal.json", "/tezzeret/tezzeret_wal.json"] {
            #expect(!fm.fileExists(atPath: data + wal), "\(point): \(wal) left behind")
        }
        let staged = (try? fm.contentsOfDirectory(atPath: data + "/tezzeret/artifacts")) ?? []
        #expect(staged.isEmpty, "\(point): staged files \(staged)")
    }
}
