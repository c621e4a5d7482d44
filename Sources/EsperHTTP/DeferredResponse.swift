internal import CMicroHTTPD
import Synchronization

/// An answer the handler cannot give before it returns — a create waiting for the sync of
/// its group commit. The handler returns `HTTPResponse.deferred(_:)`; the server parks the
/// connection (`MHD_suspend_connection`: no pool thread waits, so the other requests go on
/// and many creates share one sync) and `resolve`, called from any thread, resumes it
/// (`MHD_resume_connection`, safe from any thread with `MHD_USE_ITC`). The connection's
/// pool thread then makes the response, so slow follow-up work (the bus) stays off the
/// thread that resolves.
public final class DeferredResponse: Sendable {
    public typealias Maker = @Sendable () throws -> HTTPResponse

    private struct State: @unchecked Sendable {
        var maker: Maker?
        var resolved = false
        /// The parked connection; nil before parking, after resuming and once it is gone.
        var connection: OpaquePointer?
    }

    private let state = Mutex(State())

    public init() {}

    /// Gives the answer: `make` runs on the connection's pool thread, and what it throws is
    /// answered as a handler's error would be (a `Problem` as itself, anything else a 500).
    /// Only the first call counts.
    public func resolve(_ make: @escaping Maker) {
        state.withLock { s in
            guard !s.resolved else { return }
            s.resolved = true
            s.maker = make
            if let connection = s.connection {
                s.connection = nil
                MHD_resume_connection(connection)
            }
        }
    }

    /// Whether `resolve` was called.
    public var isResolved: Bool { state.withLock { $0.resolved } }

    // MARK: - server side (the connection's pool thread)

    /// Parks the connection until `resolve`; false when the answer is already there (then
    /// nothing was suspended: answer at once).
    func park(_ connection: OpaquePointer) -> Bool {
        state.withLock { s in
            if s.resolved { return false }
            s.connection = connection
            MHD_suspend_connection(connection)
            return true
        }
    }

    /// The connection is gone (completed or closed): it is never resumed after this.
    func connectionClosed() {
        state.withLock { s in
            s.connection = nil
            s.resolved = true
            s.maker = nil
        }
    }

    /// The maker once resolved, taken once (nil while pending).
    func take() -> Maker? {
        state.withLock { s in
            defer { s.maker = nil }
            return s.maker
        }
    }
}
