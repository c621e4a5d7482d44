internal import CMicroHTTPD
import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// The body of a streaming response (Server-Sent Events): producers `write` bytes from any
/// thread into a bounded buffer; libmicrohttpd pulls them through a content-reader callback
/// on the connection's pool thread. No pool thread ever waits: when the buffer is empty the
/// reader suspends the connection (`MHD_suspend_connection`, allowed from a content reader)
/// and the next `write` resumes it (`MHD_resume_connection`, safe from any thread with
/// `MHD_USE_ITC`). A producer never waits either: a write that would take the buffer over
/// its capacity drops the stream instead — the buffer is freed and the connection aborted at
/// once (socket shut down and reset; libmicrohttpd then closes it and completes the request).
public final class EventStream: Sendable {
    /// Most bytes waiting for the client before the stream is dropped.
    public let capacity: Int
    /// Called once when the connection is gone (client left, dropped, finished, server stop).
    private let closeHandlers = Mutex<[@Sendable () -> Void]>([])
    private let state: Mutex<State>

    private struct State: @unchecked Sendable {
        var buffer: [UInt8] = []
        var readOffset = 0
        /// Set when the response is queued; nil before and after the connection's life.
        var connection: OpaquePointer?
        /// The connection's socket while it is open (libmicrohttpd closes it only after the
        /// completion callback, which clears this under the same lock).
        var socket: Int32 = -1
        var suspended = false
        var finishing = false
        var dropped = false
        var closed = false
        var bytesWritten = 0

        var pending: Int { buffer.count - readOffset }

        /// Aborts the connection of a dropped client at once: shutting the socket down makes
        /// epoll report a hang-up, so libmicrohttpd closes it now rather than when the client
        /// reads again or the connection times out; linger 0 makes that close a reset that
        /// discards what the kernel still holds for the client.
        mutating func abort() {
            guard !closed, socket >= 0 else { return }
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            _ = shutdown(socket, Int32(SHUT_RDWR))
        }

        /// Resumes a suspended connection so libmicrohttpd calls the reader again.
        mutating func wake() {
            guard suspended, let connection else { return }
            suspended = false
            MHD_resume_connection(connection)
        }
    }

    public init(capacity: Int) {
        self.capacity = max(1024, capacity)
        state = Mutex(State())
    }

    /// Queues bytes for the client. False when the stream is closed or was dropped (now or
    /// earlier): the caller forgets the stream.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        state.withLock { s in
            guard !s.closed, !s.dropped, !s.finishing else { return false }
            if s.pending + bytes.count > capacity {
                s.dropped = true
                s.buffer = []
                s.readOffset = 0
                s.abort()
                s.wake()
                return false
            }
            if s.readOffset > 0 && s.readOffset * 2 >= s.buffer.count {
                s.buffer.removeFirst(s.readOffset)
                s.readOffset = 0
            }
            s.buffer.append(contentsOf: bytes)
            s.wake()
            return true
        }
    }

    /// Ends the response after what is buffered has been sent.
    public func finish() {
        state.withLock { s in
            s.finishing = true
            s.wake()
        }
    }

    /// Bytes waiting to be sent.
    public var bufferedBytes: Int { state.withLock { $0.pending } }
    /// Still connected and neither dropped nor finishing.
    public var isOpen: Bool { state.withLock { !$0.closed && !$0.dropped && !$0.finishing } }
    public var wasDropped: Bool { state.withLock { $0.dropped } }
    /// Bytes handed to libmicrohttpd so far.
    public var bytesSent: Int { state.withLock { $0.bytesWritten } }

    /// Runs `handler` once when the connection is gone (at once if it already is).
    public func onClose(_ handler: @escaping @Sendable () -> Void) {
        let closed = state.withLock { $0.closed }
        if closed {
            handler()
            return
        }
        closeHandlers.withLock { $0.append(handler) }
        // Closed between the two locks: run what is registered (each handler runs once).
        if state.withLock({ $0.closed }) { runCloseHandlers() }
    }

    private func runCloseHandlers() {
        let handlers = closeHandlers.withLock { handlers -> [@Sendable () -> Void] in
            defer { handlers = [] }
            return handlers
        }
        for handler in handlers { handler() }
    }

    // MARK: - libmicrohttpd side (the connection's pool thread)

    func attach(_ connection: OpaquePointer, socket: Int32) {
        state.withLock {
            $0.connection = connection
            $0.socket = socket
        }
    }

    /// The request completed (any reason): libmicrohttpd frees the connection after this, so
    /// it must never be resumed again.
    func connectionClosed() {
        state.withLock { s in
            s.closed = true
            s.connection = nil
            s.socket = -1
            s.suspended = false
            s.buffer = []
            s.readOffset = 0
        }
        runCloseHandlers()
    }

    /// The content reader: bytes if any are waiting, the end when finishing or dropped,
    /// otherwise suspend and return 0 (libmicrohttpd calls again once resumed).
    func read(into destination: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        state.withLock { s in
            if s.dropped || s.closed { return -2 }  // MHD_CONTENT_READER_END_WITH_ERROR
            let count = min(s.pending, max)
            if count > 0 {
                s.buffer.withUnsafeBufferPointer { source in
                    UnsafeMutableRawPointer(destination).copyMemory(from: source.baseAddress! + s.readOffset, byteCount: count)
                }
                s.readOffset += count
                s.bytesWritten += count
                if s.readOffset == s.buffer.count {
                    s.buffer.removeAll(keepingCapacity: s.buffer.capacity <= 64 * 1024)
                    s.readOffset = 0
                }
                return count
            }
            if s.finishing { return -1 }  // MHD_CONTENT_READER_END_OF_STREAM
            guard let connection = s.connection else { return -2 }
            s.suspended = true
            MHD_suspend_connection(connection)
            return 0
        }
    }

    /// The libmicrohttpd response reading from this stream (it holds a reference until
    /// libmicrohttpd frees the response).
    func makeResponse() -> OpaquePointer? {
        let retained = Unmanaged.passRetained(self).toOpaque()
        let response = esper_mhd_stream_response(
            8 * 1024,
            { cls, _, buffer, max in
                guard let cls, let buffer else { return -2 }
                return Unmanaged<EventStream>.fromOpaque(cls).takeUnretainedValue().read(into: buffer, max: max)
            }, retained,
            { cls in
                guard let cls else { return }
                Unmanaged<EventStream>.fromOpaque(cls).release()
            })
        if response == nil { Unmanaged<EventStream>.fromOpaque(retained).release() }
        return response
    }
}
