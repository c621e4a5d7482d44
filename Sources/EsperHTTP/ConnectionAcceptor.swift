import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// The listening socket, and one thread that accepts on it and hands each connection over
/// (`HTTPServer` gives it to the libmicrohttpd daemon holding the fewest). libmicrohttpd's
/// own thread pool lets whichever worker wakes first accept, several at a time: 32
/// keep-alive connections opened at once split 21/12 or 20/13 between two workers, and the
/// busier worker's clients waited about twice as long — most of a list page's p99.
final class ConnectionAcceptor: @unchecked Sendable {
    /// Set once in `init`; closed by `stop` after the thread is gone.
    let socket: Int32
    let port: UInt16
    private let stopped = Atomic<Bool>(false)
    /// Written by `start` and read by `stop`, both on the server's starting/stopping thread.
    private var thread: pthread_t?

    struct BindError: Error, CustomStringConvertible {
        let description: String
    }

    /// Binds and listens (SO_REUSEADDR, so a restart binds through TIME_WAIT; never
    /// SO_REUSEPORT: a second server on the same port must fail, not share it). IPv6 only on
    /// an IPv6 address, as libmicrohttpd did.
    init(address: SocketAddress, backlog: Int) throws(BindError) {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BindError(description: "socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if address.isIPv6 { _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &on, socklen_t(MemoryLayout<Int32>.size)) }
        let length = socklen_t(address.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        let bound = address.withSockaddr { Glibc.bind(fd, $0, length) }
        guard bound == 0, listen(fd, Int32(clamping: backlog)) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BindError(description: reason)
        }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        }
        port = withUnsafePointer(to: &local) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                switch Int32(address.pointee.sa_family) {
                case AF_INET6: address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                default: address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
                }
            }
        }
        socket = fd
    }

    /// What the accepting thread runs: the state it needs, passed as pthread's argument.
    private final class Loop {
        let acceptor: ConnectionAcceptor
        let hand: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void
        init(_ acceptor: ConnectionAcceptor, _ hand: @escaping (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void) {
            self.acceptor = acceptor
            self.hand = hand
        }
    }

    /// Starts the accepting thread; `hand` owns each accepted socket (it must close it or
    /// pass it on).
    func start(_ hand: @escaping (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void) {
        let loop = Unmanaged.passRetained(Loop(self, hand)).toOpaque()
        var handle = pthread_t()
        let created = pthread_create(
            &handle, nil,
            { raw in
                let loop = Unmanaged<Loop>.fromOpaque(raw!).takeRetainedValue()
                loop.acceptor.acceptLoop(loop.hand)
                return nil
            }, loop)
        if created == 0 {
            thread = handle
        } else {
            Unmanaged<Loop>.fromOpaque(loop).release()
        }
    }

    private func acceptLoop(_ hand: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Void) {
        var peer = sockaddr_storage()
        while !stopped.load(ordering: .acquiring) {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(socket, $0, &length) }
            }
            if fd >= 0 {
                // Not inherited by the processes the server starts (redis-server, workers).
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { hand(fd, $0, length) } }
                continue
            }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO:
                continue
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                // Out of descriptors or memory: wait for some to be freed rather than spin.
                usleep(10_000)
            default:
                // The socket was shut down (stop) or is unusable.
                if !stopped.load(ordering: .acquiring) { usleep(10_000) }
            }
        }
    }

    /// Stops accepting: wakes the thread out of `accept`, waits for it, closes the socket.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = shutdown(socket, Int32(SHUT_RDWR))
        if let thread { pthread_join(thread, nil) }
        thread = nil
        close(socket)
    }
}
