import Foundation

/// SIGINT/SIGTERM are blocked in every thread (call `block()` first thing in `main`, before
/// any thread exists, so all inherit the mask) and taken synchronously by `wait()`: shutdown
/// then runs as ordinary code, not inside a signal handler.
public enum TerminationSignals {
    private static var set: sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        return signals
    }

    public static func block() {
        var signals = set
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        // A client that disconnects mid-response must not kill the process.
        signal(SIGPIPE, SIG_IGN)
    }

    /// Blocks until SIGINT or SIGTERM arrives; returns its number.
    public static func wait() -> Int32 {
        var signals = set
        var received: Int32 = 0
        while sigwait(&signals, &received) != 0 {}
        return received
    }
}
