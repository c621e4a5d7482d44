// esper: the command-line entry point — `esper serve` runs the control-plane server;
// `esper worker` trains runs for a server from its Redis job queue; `esper forge` compiles
// the blueprint catalog into Urza once and exits; `esper demo` runs the end-to-end demo
// (clients/python/esper_client/demo.py) against a fresh server.
import ArgumentParser
import EsperServer
import Foundation
import Logging

// Before any thread exists, so every thread inherits the mask (see TerminationSignals).
TerminationSignals.block()

struct Esper: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "esper",
        abstract: "Control plane for morphogenetic neural-network training.",
        version: Application.version,
        subcommands: [Serve.self, WorkerCommand.self, ForgeCommand.self, DemoCommand.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP/JSON control-plane server.",
        discussion: "Every option also reads an environment variable (shown in brackets), or a .env file in the working directory.\n\n"
            + EsperServer.Configuration.variables.map { "  \($0.name) (default \($0.defaultValue)): \($0.meaning)" }.joined(separator: "\n")
    )

    @Option(help: "Address to listen on [ESPER_HOST].") var host: String?
    @Option(help: "Port to listen on [ESPER_PORT].") var port: String?
    @Option(name: .customLong("data-dir"), help: "State directory [ESPER_DATA_DIR].") var dataDirectory: String?
    @Option(name: .customLong("redis-url"), help: "External Redis; omit for a managed redis-server [REDIS_URL].") var redisURL: String?
    @Option(name: .customLong("http-threads"), help: "HTTP thread pool size [ESPER_HTTP_THREADS].") var httpThreads: String?
    @Option(name: .customLong("log-level"), help: "Log level [ESPER_LOG_LEVEL].") var logLevel: String?
    @Flag(name: .customLong("no-local-workers"), help: "Train nothing in this process: a pure control plane [ESPER_LOCAL_WORKERS=off].")
    var noLocalWorkers = false

    func run() throws {
        var flags: [String: String] = [:]
        if noLocalWorkers { flags["ESPER_LOCAL_WORKERS"] = "off" }
        flags["ESPER_HOST"] = host
        flags["ESPER_PORT"] = port
        flags["ESPER_DATA_DIR"] = dataDirectory
        flags["REDIS_URL"] = redisURL
        flags["ESPER_HTTP_THREADS"] = httpThreads
        flags["ESPER_LOG_LEVEL"] = logLevel

        runUntilTerminated(flags: flags, label: "esper", failureStatus: 1) { configuration, logger in
            let application = try Application(configuration: configuration, logger: logger)
            try application.start()
            return application.stop
        }
    }

}

/// `esper worker`: worker slots in a process of their own, on any machine that reaches the
/// server's Redis and shares its checkpoint directory.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train runs for a server: take jobs from its Redis, checkpoint to the shared directory, report on the bus.",
        discussion:
            "Reads the same settings as `serve` (REDIS_URL, ESPER_SERVER_URL, ESPER_CHECKPOINT_DIR, ESPER_MAX_CONCURRENT_RUNS = slots, ESPER_DATASETS_DIR, OONA_*). SIGTERM hands running jobs back to the queue."
    )

    @Option(name: .customLong("redis-url"), help: "The server's Redis [REDIS_URL].") var redisURL: String?
    @Option(name: .customLong("server-url"), help: "Base URL of the server [ESPER_SERVER_URL].") var serverURL: String?
    @Option(name: .customLong("checkpoint-dir"), help: "Shared checkpoint directory [ESPER_CHECKPOINT_DIR].") var checkpointDirectory:
        String?
    @Option(help: "Worker slots: runs trained at once [ESPER_MAX_CONCURRENT_RUNS].") var slots: String?
    @Option(name: .customLong("data-dir"), help: "Local state directory (datasets default to <dir>/datasets) [ESPER_DATA_DIR].")
    var dataDirectory: String?
    @Option(name: .customLong("log-level"), help: "Log level [ESPER_LOG_LEVEL].") var logLevel: String?

    func run() throws {
        var flags: [String: String] = [:]
        flags["REDIS_URL"] = redisURL
        flags["ESPER_SERVER_URL"] = serverURL
        flags["ESPER_CHECKPOINT_DIR"] = checkpointDirectory
        flags["ESPER_MAX_CONCURRENT_RUNS"] = slots
        flags["ESPER_DATA_DIR"] = dataDirectory
        flags["ESPER_LOG_LEVEL"] = logLevel
        runUntilTerminated(flags: flags, label: "esper-worker", failureStatus: 2) { configuration, logger in
            let worker = try WorkerProcess(configuration: configuration, logger: logger)
            worker.start()
            return worker.stop
        }
    }
}

/// `esper forge`: one forge run in the foreground (Urza's integrity scan first), for operators
/// and for the crash-recovery tests, which kill it mid-run and start it again.
struct ForgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge",
        abstract: "Compile every blueprint missing from Urza, then exit (0: all stored, 1: some failed).",
        discussion:
            "Reads the same settings as `serve` (ESPER_DATA_DIR, ESPER_SEED_WIDTH, ESPER_COMPILE_STRATEGY, ESPER_FORGE_*). Prints the run summary as JSON."
    )

    @Option(name: .customLong("data-dir"), help: "State directory [ESPER_DATA_DIR].") var dataDirectory: String?
    @Option(help: "Autotune effort: emergency, fast, standard, aggressive [ESPER_COMPILE_STRATEGY].") var strategy: String?
    @Option(help: "Concurrent compiles, 1-2 [ESPER_FORGE_WORKERS].") var workers: String?

    func run() throws {
        var flags: [String: String] = [:]
        flags["ESPER_DATA_DIR"] = dataDirectory
        flags["ESPER_COMPILE_STRATEGY"] = strategy
        flags["ESPER_FORGE_WORKERS"] = workers
        let configuration = resolveConfiguration(flags)
        let services: BlueprintServices
        do {
            services = try BlueprintServices(configuration: configuration)
        } catch {
            fail("esper: \(error)", status: 1)
        }
        let summary = services.runForgeOnce()
        FileHandle.standardOutput.write(Data(summary.json + [10]))
        services.stop()
        Foundation.exit(summary.failed.isEmpty ? 0 : 1)
    }
}

/// `esper demo`: the demo drives a server through the HTTP API exactly as an operator's
/// script would, so it lives with the Python client; this finds it next to the binary
/// (`<repo>/.build/<config>/esper` → `<repo>/clients/python`) and runs it with this binary.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a fresh server, forge the catalog, grow a digits run under Tamiyo, print a summary.",
        discussion: "Needs python3 with requests (scripts/bootstrap.sh installs it). ESPER_DEMO_SMALL=1 is --small.")

    @Flag(help: "The CI setting: 60 epochs and shorter gates.") var small = false
    @Flag(help: "Leave the server running after the summary.") var keep = false
    @Option(name: .customLong("data-dir"), help: "A fresh state directory (default var/demo/<time>).") var dataDirectory: String?

    func run() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = binary.deletingLastPathComponent()
        var clients: URL?
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("clients/python")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("esper_client/demo.py").path) {
                clients = candidate
                break
            }
            directory = directory.deletingLastPathComponent()
        }
        guard let clients else { fail("esper: the demo (clients/python/esper_client/demo.py) is not next to \(binary.path)", status: 1) }
        var arguments = ["python3", "-m", "esper_client.demo", "--binary", binary.path]
        if small { arguments.append("--small") }
        if keep { arguments.append("--keep") }
        if let dataDirectory { arguments += ["--data-dir", dataDirectory] }
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = clients.path + (environment["PYTHONPATH"].map { ":" + $0 } ?? "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        do {
            try process.run()
        } catch {
            fail("esper: cannot start python3: \(error)", status: 1)
        }
        // The demo stops its server on SIGINT/SIGTERM itself; this process only waits.
        process.waitUntilExit()
        Foundation.exit(process.terminationStatus)
    }
}

/// Prints one line to stderr and exits with `status` (2: configuration, 1: start failure).
func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    Foundation.exit(status)
}

/// Flags over environment over `.env`, validated; a bad value exits with status 2.
func resolveConfiguration(_ flags: [String: String]) -> EsperServer.Configuration {
    do {
        return try EsperServer.Configuration.resolve(
            flags: flags, environment: ProcessInfo.processInfo.environment,
            workingDirectory: FileManager.default.currentDirectoryPath)
    } catch {
        fail("esper: \(error.description)", status: 2)
    }
}

/// Logging for the long-running commands (`serve`, `worker`): lines go through a buffered
/// handler at the configured level; flush the returned sink before exiting.
func bootstrapLogging(level: Logger.Level) -> BufferedLogHandler.Sink {
    let sink = BufferedLogHandler.Sink()
    LoggingSystem.bootstrap { label in BufferedLogHandler(label: label, level: level, sink: sink) }
    return sink
}

/// The long-running commands' life (`serve`, `worker`): configuration and logging, then
/// `start` (which returns how to stop what it started; a failure exits with `failureStatus`),
/// then wait for SIGINT or SIGTERM and stop.
func runUntilTerminated(
    flags: [String: String], label: String, failureStatus: Int32,
    start: (EsperServer.Configuration, Logger) throws -> () -> Void
) {
    let configuration = resolveConfiguration(flags)
    let sink = bootstrapLogging(level: configuration.logLevel)
    defer { sink.flush() }
    let stop: () -> Void
    do {
        stop = try start(configuration, Logger(label: label))
    } catch {
        fail("esper: \(error)", status: failureStatus)
    }
    let signal = TerminationSignals.wait()
    Logger(label: label).info("shutting down", metadata: ["signal": "\(signal == SIGINT ? "SIGINT" : "SIGTERM")"])
    stop()
}

Esper.main()
