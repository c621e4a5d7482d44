import EsperAPI
public import EsperHTTP
import Foundation
public import Logging
public import Oona
public import Prometheus

/// The running server: managed (or external) Redis, the health monitor, and the HTTP server
/// with every route. `esper serve` and the integration tests both drive this type.
public final class Application: Sendable {
    public static let version = "0.1.0"

    public let configuration: Configuration
    public let registry = PrometheusCollectorRegistry()
    public let redisEndpoint: RedisEndpoint
    public let managedRedis: ManagedRedis?
    /// The blueprint pipeline (Karn, Tezzeret, Urza); nil when its storage could not be opened,
    /// in which case `start()` fails with `blueprintsError`.
    public let blueprints: BlueprintServices?
    let blueprintsError: String?
    let logger: Logger
    let healthMonitor: RedisHealthMonitor
    let server: HTTPServer

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        if let external = configuration.redisURL {
            managedRedis = nil
            redisEndpoint = external
        } else {
            var options = ManagedRedis.Options(directory: configuration.dataDirectory + "/redis")
            options.executable = configuration.redisServerExecutable
            options.configFile = configuration.redisConfigFile
            let managed = ManagedRedis(options: options, logger: logger)
            managedRedis = managed
            redisEndpoint = managed.endpoint
        }
        healthMonitor = RedisHealthMonitor(endpoint: redisEndpoint)
        do {
            blueprints = try BlueprintServices(configuration: configuration)
            blueprintsError = nil
        } catch {
            blueprints = nil
            blueprintsError = error.description
        }

        var router = Router()
        HealthRoutes.register(into: &router, probes: Application.probes(configuration, healthMonitor, managedRedis, blueprints),
                              registry: registry, version: VersionInfo(version: Application.version))
        if let blueprints {
            KarnRoutes.register(into: &router, karn: blueprints.karn)
            UrzaRoutes.register(into: &router, urza: blueprints.urza)
            TezzeretRoutes.register(into: &router, tezzeret: blueprints.tezzeret)
        }
        server = HTTPServer(configuration: configuration.http, router: router, logger: logger,
                            metrics: HTTPMetrics(registry: registry))
    }

    /// The routes the server answers (for the OpenAPI conformance test).
    public var routes: [Router.Route] { server.routes }

    /// The bound port (useful when configured with port 0).
    public var port: UInt16 { server.port }

    public func start() throws {
        if let blueprintsError { throw StartError(description: blueprintsError) }
        if let managedRedis {
            do {
                try managedRedis.start()
            } catch {
                throw StartError(description: "cannot start the managed Redis: \(error)")
            }
        }
        healthMonitor.start()
        if !healthMonitor.status.reachable {
            logger.warning("Redis is not reachable; serving in degraded mode",
                           metadata: ["redis": "\(redisEndpoint)", "error": "\(healthMonitor.status.error ?? "")"])
        }
        do {
            try server.start()
        } catch {
            healthMonitor.stop()
            managedRedis?.stop()
            throw StartError(description: "\(error)")
        }
        blueprints?.start()
        logger.info("esper listening", metadata: ["url": "http://\(configuration.http.host):\(server.port)",
                                                  "data_dir": "\(configuration.dataDirectory)", "redis": "\(redisEndpoint)"])
    }

    /// Graceful stop: no new connections, in-flight requests finish, then Redis stops.
    public func stop() {
        server.stop()
        blueprints?.stop()
        healthMonitor.stop()
        managedRedis?.stop()
        logger.info("esper stopped")
    }

    static func probes(_ configuration: Configuration, _ monitor: RedisHealthMonitor, _ managed: ManagedRedis?,
                       _ blueprints: BlueprintServices?) -> [HealthProbe] {
        let dataDirectory = configuration.dataDirectory
        var probes = [
            HealthProbe(name: "redis") {
                let status = monitor.status
                let mode = managed == nil ? "external \(monitor.endpoint)" : "managed \(monitor.endpoint)"
                if status.reachable {
                    return HealthCheckResult(status: .ok, detail: "\(mode): PING \(status.latencyMicroseconds) µs")
                }
                let restarting = managed.map { " (restarts so far: \($0.restartCount))" } ?? ""
                return HealthCheckResult(status: .degraded, detail: "\(mode) unreachable: \(status.error ?? "unknown")\(restarting)")
            },
            HealthProbe(name: "storage") {
                access(dataDirectory, W_OK | X_OK) == 0
                    ? HealthCheckResult(status: .ok, detail: "\(dataDirectory) writable")
                    : HealthCheckResult(status: .degraded, detail: "\(dataDirectory) is not writable")
            },
        ]
        if let blueprints {
            probes.append(HealthProbe(name: "blueprints") { blueprints.health })
        }
        return probes
    }
}
