import EsperServer
import EsperTestSupport
import Foundation
import Logging

/// The real server (libmicrohttpd, SQLite, worker threads, a real redis-server) started
/// in-process on an ephemeral port with its own data directory. By default it runs its own
/// managed redis-server; pass `redis` to share one across restarts, `data` to reuse a data
/// directory, `environment` for variables as `esper serve` would read them.
final class ServerHarness {
    let data: TemporaryDirectory
    let redis: RedisTestServer?
    let application: Application
    var port: UInt16 { application.port }

    init(
        environment: [String: String] = [:], data: TemporaryDirectory = TemporaryDirectory("esper-server"),
        redis: RedisTestServer? = nil, configure: (inout Configuration) -> Void = { _ in }
    ) throws {
        self.data = data
        self.redis = redis
        // The blueprint forge stays off unless a test asks for it: it would compete for the
        // cores with what other tests measure.
        var values = [
            "ESPER_PORT": "0", "ESPER_DATA_DIR": data.path + "/var", "ESPER_ACCESS_LOG": "off",
            "ESPER_FORGE_AT_START": "off",
        ]
        for (key, value) in environment { values[key] = value }
        var configuration = try Configuration.resolve(flags: [:], environment: values, workingDirectory: data.path)
        if let redis, environment["REDIS_URL"] == nil { configuration.redisURL = redis.endpoint }
        configure(&configuration)
        var logger = Logger(label: "test-server")
        // ESPER_TEST_SERVER_LOG=debug (or info, …) shows the server's log when chasing a failure.
        logger.logLevel = ProcessInfo.processInfo.environment["ESPER_TEST_SERVER_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        application = try Application(configuration: configuration, logger: logger)
        try application.start()
    }

    deinit { application.stop() }

    func get(_ path: String) throws -> RawResponse { try RawHTTP.request(port: port, path: path) }

    func request(_ method: String, _ path: String, json: String? = nil, headers: [String: String] = [:]) throws -> RawResponse {
        var headers = headers
        if json != nil { headers["Content-Type"] = "application/json" }
        return try RawHTTP.request(port: port, method: method, path: path, headers: headers, body: Array((json ?? "").utf8))
    }

    func object(_ method: String, _ path: String, json: String? = nil) throws -> [String: Any] {
        try RawHTTP.json(request(method, path, json: json))
    }
}

/// The built `esper` binary, for tests that need a separate process (exit codes, signals).
enum EsperBinary {
    static var path: String {
        // Tests run from the package root; the test bundle sits next to the binary.
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("esper").path,
            FileManager.default.currentDirectoryPath + "/.build/debug/esper",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
    }

    struct Result {
        let status: Int32
        let stderr: String
    }

    /// Runs `esper` with arguments and environment (on top of a minimal PATH) to completion.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String,
        timeoutSeconds: Double = 30
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"].merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return Result(status: process.terminationStatus, stderr: text)
    }
}
