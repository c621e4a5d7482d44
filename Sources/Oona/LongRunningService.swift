/// The shape every long-running part of a process shares (bus subscriptions, the worker
/// slots, monitors, the HTTP server through an adapter): a name, `start`, `stop` and a health
/// line. `ServiceGroup` starts a list of them in order and stops the started ones in reverse.
public protocol LongRunningService: AnyObject, Sendable {
    /// Short and stable, for logs and errors ("nissa", "worker-slots").
    var name: String { get }
    /// Starts its threads; a second call while running does nothing.
    func start() throws
    /// Stops and waits for its threads to end; harmless when not started or already stopped.
    func stop()
    var health: ServiceHealth { get }
}

/// What a service says about itself on `/healthz`.
public struct ServiceHealth: Sendable, Equatable {
    public var healthy: Bool
    public var detail: String

    public init(healthy: Bool, detail: String) {
        self.healthy = healthy
        self.detail = detail
    }
}
