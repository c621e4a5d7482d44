import EsperServer
import EsperTestSupport
import Foundation
import Testing

extension ServerHarness {
    /// A server for the blueprint tests: the forge on the emergency strategy (no timing, so tests
    /// stay quick), at start only when asked.
    convenience init(forgeAtStart: Bool) throws {
        try self.init(environment: [
            "ESPER_FORGE_AT_START": forgeAtStart ? "on" : "off", "ESPER_COMPILE_STRATEGY": "emergency",
            "ESPER_HTTP_THREADS": "4",
        ])
    }

    var dataDirectory: String { application.configuration.dataDirectory }

    func post(_ path: String, _ json: String = "", headers: [String: String] = [:]) throws -> RawResponse {
        try request("POST", path, json: json.isEmpty ? nil : json, headers: headers)
    }

    func json(_ path: String) throws -> [String: Any] { try RawHTTP.json(try get(path)) }

    /// Waits until the forge has finished `runs` runs and is idle.
    func waitForForge(runs: Int = 1, within seconds: Double = 180) throws -> [String: Any] {
        var status: [String: Any] = [:]
        _ = eventually(within: seconds) {
            status = (try? json("/api/v1/tezzeret/forge")) ?? [:]
            return (status["runs"] as? Int ?? 0) >= runs && status["state"] as? String == "idle"
        }
        return status
    }
}
