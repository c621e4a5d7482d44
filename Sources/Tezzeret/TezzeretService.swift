import Foundation
public import Karn
import Oona
public import Urza

/// Tezzeret as the server runs it: the compiler, the shared compile workers, the forge with
/// its background runner thread, and the request pipeline. HTTP handlers only call the
/// non-blocking members (`requestForgeRun`, `forgeStatus`, `jobs`).
public final class TezzeretService: Sendable {
    public let compiler: TezzeretCompiler
    public let forge: Forge
    public let jobs: CompileJobs
    let scheduler: CompileScheduler
    let runner: ForgeRunner

    /// - Parameters:
    ///   - directory: `<data>/tezzeret` (compiler WALs, artifacts awaiting Urza).
    ///   - forgeWALPath: `<data>/urza/forge_wal.json`.
    ///   - workers: concurrent compiles, 1 (default) or 2.
    public init(
        catalog: KarnCatalog, urza: UrzaLibrary, directory: String, forgeWALPath: String, options: CompileOptions,
        workers: Int = 1, telemetry: any BlueprintTelemetry
    ) throws {
        compiler = try TezzeretCompiler(catalog: catalog, directory: directory, options: options, telemetry: telemetry)
        scheduler = CompileScheduler(workers: workers)
        forge = Forge(
            catalog: catalog, urza: urza, compiler: compiler, walPath: forgeWALPath, scheduler: scheduler,
            telemetry: telemetry)
        jobs = CompileJobs(catalog: catalog, compiler: compiler, urza: urza, scheduler: scheduler, telemetry: telemetry)
        runner = ForgeRunner(forge: forge, urza: urza)
    }

    /// Starts the background forge thread; with `runNow` it first checks Urza's artifacts and
    /// runs the forge (the server-start forge).
    public func start(runNow: Bool) {
        runner.start()
        if runNow { runner.request(trigger: "startup", verifyFirst: true) }
    }

    /// Asks for a forge run (returns at once). False when one is already queued.
    @discardableResult
    public func requestForgeRun(trigger: String) -> Bool { runner.request(trigger: trigger, verifyFirst: false) }

    public var forgeStatus: ForgeStatus {
        var status = forge.status
        if status.state == "idle" && runner.isQueued { status.state = "queued" }
        return status
    }

    /// Lets the compiles in progress finish (the rest stays in the forge WAL) and stops the threads.
    public func stop() {
        forge.cancel()
        runner.stop()
        scheduler.stop()
    }
}

/// The thread that runs forge runs one after another when asked (server start, the API, Urza
/// reporting a damaged artifact), so no request thread ever blocks on a compile.
final class ForgeRunner: @unchecked Sendable {
    // Mutable state guarded by `condition`.
    private let condition = NSCondition()
    private var requested: (trigger: String, verify: Bool)?
    private var active = false
    private var stopping = false
    private let thread = BackgroundThread(name: "tezzeret-forge")
    let forge: Forge
    let urza: UrzaLibrary

    init(forge: Forge, urza: UrzaLibrary) {
        self.forge = forge
        self.urza = urza
    }

    var isQueued: Bool {
        condition.lock()
        defer { condition.unlock() }
        return requested != nil
    }

    /// Starts the thread (a second call while it runs does nothing). It waits on the requests'
    /// condition, not on the thread's stop signal: `stop` wakes it.
    func start() {
        thread.start { [self] _ in loop() }
    }

    @discardableResult
    func request(trigger: String, verifyFirst: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        if let pending = requested {
            requested = (pending.trigger, pending.verify || verifyFirst)
            return false
        }
        requested = (trigger, verifyFirst)
        condition.broadcast()
        return true
    }

    func stop() {
        condition.lock()
        stopping = true
        requested = nil
        condition.broadcast()
        while active { condition.wait() }
        condition.unlock()
        thread.join()
    }

    private func loop() {
        while true {
            condition.lock()
            while requested == nil && !stopping { condition.wait() }
            if stopping {
                condition.unlock()
                return
            }
            let job = requested!
            requested = nil
            active = true
            condition.unlock()
            if job.verify { _ = urza.verifyAll() }
            forge.run(trigger: job.trigger)
            condition.lock()
            active = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
