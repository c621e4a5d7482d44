#if canImport(Glibc)
    internal import Glibc
#endif

/// A resolved listen address (IPv4 or IPv6), and printing of peer addresses.
struct SocketAddress {
    private var storage = sockaddr_storage()
    let isIPv6: Bool

    struct ResolveError: Error, CustomStringConvertible {
        let description: String
    }

    static func resolve(host: String, port: UInt16) throws -> SocketAddress {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw ResolveError(description: "cannot resolve listen address '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        var address = SocketAddress(isIPv6: first.pointee.ai_family == AF_INET6)
        withUnsafeMutableBytes(of: &address.storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        return address
    }

    private init(isIPv6: Bool) { self.isIPv6 = isIPv6 }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        var copy = storage
        return withUnsafePointer(to: &copy) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }

    static func describe(_ address: UnsafePointer<sockaddr>?) -> String {
        guard let address else { return "" }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN) + 1) { buffer in
            let capacity = socklen_t(buffer.count)
            let printed: UnsafePointer<CChar>?
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                printed = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    var addr = v4.pointee.sin_addr
                    return inet_ntop(AF_INET, &addr, buffer.baseAddress, capacity)
                }
            case AF_INET6:
                printed = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    var addr = v6.pointee.sin6_addr
                    return inet_ntop(AF_INET6, &addr, buffer.baseAddress, capacity)
                }
            default:
                printed = nil
            }
            return printed.map { String(cString: $0) } ?? ""
        }
    }
}
