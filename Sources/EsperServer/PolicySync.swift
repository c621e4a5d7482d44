import EsperClient
import EsperJSON
import EsperStorage
import Foundation
import Logging
import Oona
import Runs
import Synchronization
import Tamiyo
import TamiyoNetwork

/// Keeps an `esper worker`'s Tamiyo on the policy the server has in force: every `interval`
/// it reads `GET /api/v1/tamiyo/policy`; when the weights' checksum differs from its own it
/// downloads `GET /api/v1/tamiyo/policy/weights` (SHA-256 checked against `X-Esper-SHA256`)
/// and installs them, so learned runs on this worker switch at their next epoch boundary —
/// after a Simic publication and after a rollback alike. A server that cannot be reached is
/// tried again at the next round; refused weights are logged and never installed.
final class PolicySync: LongRunningService {
    let name = "policy-sync"
    let server: ServerClient
    let tamiyo: TamiyoService
    let logger: Logger
    let interval: Duration
    private let thread = BackgroundThread(name: "esper-policy-sync")

    init(server: ServerClient, tamiyo: TamiyoService, logger: Logger, interval: Duration = .seconds(1)) {
        self.server = server
        self.tamiyo = tamiyo
        self.logger = logger
        self.interval = interval
    }

    func start() { thread.startLoop(every: interval) { [self] in syncOnce() } }

    func stop() { thread.stop() }

    var health: ServiceHealth { ServiceHealth(healthy: true, detail: "every \(interval) from the server") }

    /// One round; true when the weights in force here changed.
    @discardableResult
    func syncOnce() -> Bool {
        do {
            let info = try JSONValue.parse(try server.get("/api/v1/tamiyo/policy").body)
            guard let sha = info.objectValue?["weights_sha256"]?.stringValue, sha != tamiyo.currentWeights.sha256 else { return false }
            let response = try server.get("/api/v1/tamiyo/policy/weights")
            let actual = Checksum.sha256Hex(response.body)
            guard response.sha256Header == actual else {
                logger.error(
                    "policy weights from the server refused: checksum mismatch",
                    metadata: ["header": "\(response.sha256Header ?? "none")", "body": "\(actual)"])
                return false
            }
            let weights = try PolicyWeights(decoding: response.body, expecting: tamiyo.currentWeights.config)
            guard weights.sha256 != tamiyo.currentWeights.sha256 else { return false }
            try tamiyo.install(weights: weights)
            logger.info("policy adopted from the server", metadata: ["version": "\(weights.policyVersion)", "sha256": "\(weights.sha256)"])
            return true
        } catch {
            logger.debug("policy sync skipped", metadata: ["error": "\(error)"])
            return false
        }
    }
}
