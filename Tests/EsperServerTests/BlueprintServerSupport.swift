import EsperServer
import EsperTestSupport
import Foundation
import Logging
import Testing

/// A real `esper serve` in-process: port 0, its own data directory and managed Redis, the
/// blueprint pipeline on the emergency strategy (no timing, so tests stay quick).
final class BlueprintTestServer {
    let directory = TemporaryDirectory("esper-server")
    let application: Application
    var port: UInt16 { application.port }
    var dataDirectory: String { application.configuration.dataDirectory }

    init(forgeAtStart: Bool, extra: [String: String] = [:]) throws {
        var environment = ["ESPER_PORT": "0", "ESPER_DATA_DIR": directory.path + "/var", "ESPER_ACCESS_LOG": "off",
                           "ESPER_FORGE_AT_START": forgeAtStart ? "on" : "off", "ESPER_COMPILE_STRATEGY": "emergency",
                           "ESPER_HTTP_THREADS": "4"]
        for (key, value) in extra { environment[key] = value }
        let configuration = try Configuration.resolve(flags: [:], environment: environment, workingDirectory: directory.path)
        var logger = Logger(label: "blueprint-test")
        logger.logLevel = .critical
        application = Application(configuration: configuration, logger: logger)
        try application.start()
    }

    deinit { application.stop() }

    func get(_ path: String) throws -> RawResponse { try RawHTTP.request(port: port, path: path) }

    func post(_ path: String, _ json: String = "", headers: [String: String] = [:]) throws -> RawResponse {
        var all = headers
        if !json.isEmpty { all["Content-Type"] = "application/json" }
        return try RawHTTP.request(port: port, method: "POST", path: path, headers: all, body: Array(json.utf8))
    }

    func json(_ path: String) throws -> [String: Any] { try RawHTTP.json(try get(path)) }

    /// Waits until the forge has finished a run and is idle.
    func waitForForge(runs: Int = 1, within seconds: Double = 180) throws -> [String: Any] {
        var status: [String: Any] = [:]
        _ = eventually(within: seconds) {
            status = (try? json("/api/v1/tezzeret/forge")) ?? [:]
            return (status["runs"] as? Int ?? 0) >= runs && status["state"] as? String == "idle"
        }
        return status
    }
}

/// The `esper` executable next to the test bundle (built by `swift build` / `swift test`).
func esperExecutable() throws -> String {
    let bundle = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = (bundle as NSString).deletingLastPathComponent
    while !directory.isEmpty && directory != "/" {
        let candidate = directory + "/esper"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = (directory as NSString).deletingLastPathComponent
    }
    throw MissingExecutable(description: "no esper executable near \(bundle); run `swift build` first")
}

struct MissingExecutable: Error, CustomStringConvertible {
    let description: String
}
