import Foundation
public import Logging
import Synchronization

/// The embedded default: a private `redis-server` child on a unix socket inside the data
/// directory, with the append-only file on. It is supervised: a crash is logged and the
/// child restarted (with backoff), and `isAvailable` is false meanwhile so `/healthz` says
/// "degraded". `stop()` ends it with SIGTERM (SIGKILL after a grace period) and reaps it.
public final class ManagedRedis: Sendable {
    public struct Options: Sendable {
        /// Directory for the socket, AOF, pid file and log (`<data>/redis`).
        public var directory: String
        /// `redis-server` binary (PATH lookup when it has no slash).
        public var executable: String = "redis-server"
        /// An optional configuration file loaded before our own settings (`infra/redis.conf`).
        public var configFile: String?
        public var startTimeout: Duration = .seconds(10)

        public init(directory: String) { self.directory = directory }
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public let options: Options
    public let socketPath: String
    private let logger: Logger
    private let state = Mutex(State())
    /// Reaps the child and restarts it after a crash (running from a successful start to `stop`).
    private let supervisor = BackgroundThread(name: "esper-redis-supervisor")

    private struct State {
        var child: ChildProcess?
        var stopping = false
        var restarts = 0
        var available = false
    }

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        self.socketPath = ManagedRedis.socketPath(for: options.directory)
    }

    /// The endpoint clients use.
    public var endpoint: RedisEndpoint { RedisEndpoint(address: .unix(path: socketPath)) }

    /// True while the child answers (false during a restart).
    public var isAvailable: Bool { state.withLock { $0.available } }
    public var restartCount: Int { state.withLock { $0.restarts } }
    public var pid: Int32? { state.withLock { $0.child?.pid } }

    /// Unix socket paths are limited to 107 bytes; a deep data directory falls back to /tmp.
    static func socketPath(for directory: String) -> String {
        let preferred = URL(fileURLWithPath: directory).standardizedFileURL.path + "/redis.sock"
        if preferred.utf8.count < 100 { return preferred }
        var hash: UInt64 = 1469598103934665603
        for byte in preferred.utf8 { hash = (hash ^ UInt64(byte)) &* 1099511628211 }
        return "/tmp/esper-redis-\(String(hash, radix: 16)).sock"
    }

    /// Starts the child and waits until it answers PING; throws with a clear reason when the
    /// binary is missing or the server does not come up.
    public func start() throws {
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        stopStaleServer()
        let child = try launch()
        state.withLock { $0.child = child }
        guard waitUntilAnswering(deadline: ContinuousClock.now.advanced(by: options.startTimeout)) else {
            let log =
                (try? String(contentsOfFile: options.directory + "/redis.log", encoding: .utf8))?
                .split(separator: "\n").suffix(3).joined(separator: " | ") ?? ""
            stop()
            throw StartError(
                description: "redis-server did not answer within \(options.startTimeout) (see \(options.directory)/redis.log: \(log))")
        }
        state.withLock { $0.available = true }
        supervisor.start { [self] stop in supervise(stop) }
        logger.info("managed redis-server started", metadata: ["pid": "\(child.pid)", "socket": "\(socketPath)"])
    }

    /// Stops the child (SIGTERM, then SIGKILL after 5 s) and waits until it is reaped.
    public func stop() {
        let child = state.withLock { state -> ChildProcess? in
            state.stopping = true
            state.available = false
            return state.child
        }
        supervisor.requestStop()  // cuts a restart backoff short
        guard let child else {
            // Between a crash and its restart there is no child; the supervisor sees
            // `stopping` and ends (stopping a child it may just have launched).
            supervisor.join()
            try? FileManager.default.removeItem(atPath: socketPath)
            return
        }
        child.signal(SIGTERM)
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.child == nil }) { break }
            if kill(child.pid, 0) != 0 && errno == ESRCH { break }
            usleep(10_000)
        }
        if state.withLock({ $0.child != nil }) && kill(child.pid, 0) == 0 {
            logger.warning("redis-server did not stop after SIGTERM; sending SIGKILL", metadata: ["pid": "\(child.pid)"])
            child.signal(SIGKILL)
        }
        // The supervisor reaps it; without a supervisor (start failed) reap here.
        if !supervisor.isRunning { _ = child.wait(); state.withLock { $0.child = nil } }
        supervisor.join()
        try? FileManager.default.removeItem(atPath: socketPath)
    }

    private func launch() throws -> ChildProcess {
        var arguments: [String] = []
        if let configFile = options.configFile { arguments.append(configFile) }
        let directory = URL(fileURLWithPath: options.directory).standardizedFileURL.path
        arguments += [
            "--port", "0",
            "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--dir", directory,
            "--pidfile", directory + "/redis.pid",
            "--logfile", "",
            "--appendonly", "yes",
            "--daemonize", "no",
        ]
        // Without a configuration file (infra/redis.conf is found only from the repository's
        // root), Redis would also take RDB snapshots — a fork and a write of the whole data set
        // every minute under load — and refuse to shut down when its last snapshot cannot be
        // written (a full disk, a directory gone), outliving the server. The append-only file
        // is the persistence, as the bundled configuration has it.
        if options.configFile == nil { arguments += ["--save", ""] }
        try? FileManager.default.removeItem(atPath: socketPath)
        // Through util-linux's `setpriv --pdeathsig TERM`: prctl(PR_SET_PDEATHSIG) in the
        // child, so a server killed with -9 takes its redis-server down with it (the stale
        // pid-file check at the next start stays as the fallback where setpriv is missing).
        var executable = options.executable
        if let setpriv = ManagedRedis.setpriv, let resolved = ManagedRedis.resolve(executable) {
            arguments = ["--pdeathsig", "TERM", "--", resolved] + arguments
            executable = setpriv
        }
        do {
            return try ChildProcess.spawn(executable, arguments, outputPath: directory + "/redis.log")
        } catch {
            throw StartError(
                description: "\(error) (install it with `apt-get install redis-server`, or point REDIS_URL at a running Redis)")
        }
    }

    private func waitUntilAnswering(deadline: ContinuousClock.Instant) -> Bool {
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.stopping }) { return false }
            if let connection = try? RedisConnection(endpoint: endpoint, timeout: .milliseconds(500)),
                let reply = try? connection.command(["PING"]), reply == .status("PONG")
            {
                return true
            }
            // Exited already (bad config, missing module): no point waiting.
            if let pid = state.withLock({ $0.child?.pid }), kill(pid, 0) != 0 { return false }
            usleep(20_000)
        }
        return false
    }

    /// Reaps the child; restarts it unless we are stopping.
    private func supervise(_ stop: StopSignal) {
        var backoff: Duration = .milliseconds(200)
        while true {
            guard let child = state.withLock({ $0.child }) else { break }
            let status = child.wait()
            let stopping = state.withLock { state -> Bool in
                state.child = nil
                state.available = false
                return state.stopping
            }
            if stopping { break }
            logger.error(
                "managed redis-server exited unexpectedly; restarting",
                metadata: [
                    "status": "\(status.map(ChildProcess.describe(waitStatus:)) ?? "unknown")",
                    "backoff_ms": "\(backoff.components.seconds * 1000 + backoff.components.attoseconds / 1_000_000_000_000_000)",
                ])
            stop.wait(backoff)
            backoff = min(backoff * 2, .seconds(5))
            if state.withLock({ $0.stopping }) { break }
            do {
                let next = try launch()
                let stoppedMeanwhile = state.withLock { state -> Bool in
                    if state.stopping { return true }
                    state.child = next
                    state.restarts += 1
                    return false
                }
                if stoppedMeanwhile {
                    // stop() ran while this child was being launched and found none to stop:
                    // end it here, or it would outlive us.
                    next.signal(SIGTERM)
                    _ = next.wait()
                    break
                }
                if waitUntilAnswering(deadline: ContinuousClock.now.advanced(by: options.startTimeout)) {
                    state.withLock { $0.available = true }
                    backoff = .milliseconds(200)
                    logger.info("managed redis-server restarted", metadata: ["pid": "\(next.pid)"])
                }
            } catch {
                logger.error("cannot restart redis-server: \(error)")
            }
        }
    }

    /// `name` as a path to an executable: itself when it has a slash, else found on PATH.
    /// nil when there is none (the spawn then fails with the install hint).
    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// util-linux's setpriv, when installed.
    static let setpriv: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first { access($0, X_OK) == 0 }

    /// A server left behind by a previous run that was killed (its pid file names a live
    /// redis-server): stop it, so our socket and AOF have one owner.
    private func stopStaleServer() {
        let pidFile = options.directory + "/redis.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return }
        let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        guard cmdline.contains("redis-server"), cmdline.contains(socketPath) || cmdline.contains("redis.sock") else { return }
        logger.warning("stopping a redis-server left by an earlier run", metadata: ["pid": "\(pid)"])
        kill(pid, SIGTERM)
        for _ in 0..<250 where kill(pid, 0) == 0 { usleep(20_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }
}

extension ManagedRedis: LongRunningService {
    public var name: String { "managed-redis" }

    public var health: ServiceHealth {
        ServiceHealth(
            healthy: isAvailable,
            detail: "\(isAvailable ? "answering" : "not answering") on \(socketPath); restarts so far: \(restartCount)")
    }
}
