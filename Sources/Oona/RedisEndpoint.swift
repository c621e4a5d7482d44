// Oona: the message bus over Redis Streams (hiredis) — publishing with the reference routing
// and backpressure, consumer groups, reclaim and dead letters, breakers, statistics; built on
// the connections, the managed redis-server child and health probing below.

/// Where Redis listens, parsed from a `REDIS_URL`: `redis://[:password@]host[:port][/db]`
/// or `unix:///path/to/socket[?db=N]`.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public let address: Address
    public let database: Int
    public let password: String?

    public init(address: Address, database: Int = 0, password: String? = nil) {
        self.address = address
        self.database = database
        self.password = password
    }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public static func parse(_ url: String) throws(ParseError) -> RedisEndpoint {
        if url.hasPrefix("unix://") {
            let rest = url.dropFirst("unix://".count)
            let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts[0])
            guard path.hasPrefix("/") else { throw ParseError(description: "unix socket path must be absolute: \(url)") }
            var database = 0
            if parts.count > 1 {
                for item in parts[1].split(separator: "&") {
                    let kv = item.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[0] == "db", let db = Int(kv[1]), (0...15).contains(db) else {
                        throw ParseError(description: "unsupported query '\(item)' in \(url) (only db=0..15)")
                    }
                    database = db
                }
            }
            return RedisEndpoint(address: .unix(path: path), database: database)
        }
        guard url.hasPrefix("redis://") else {
            throw ParseError(description: "'\(url)' is not a redis:// or unix:// URL (TLS rediss:// is not supported)")
        }
        var rest = Substring(url.dropFirst("redis://".count))
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let secret = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last.map(String.init) ?? ""
            password = secret.isEmpty ? nil : secret
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !dbText.isEmpty {
                guard let db = Int(dbText), (0...15).contains(db) else {
                    throw ParseError(description: "database '\(dbText)' in \(url) must be 0..15")
                }
                database = db
            }
        }
        var host = String(rest)
        var port = 6379
        if host.hasPrefix("[") {  // [::1]:6379
            guard let close = host.firstIndex(of: "]") else { throw ParseError(description: "bad IPv6 host in \(url)") }
            let after = host[host.index(after: close)...]
            let inner = String(host[host.index(after: host.startIndex)..<close])
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw ParseError(description: "bad port in \(url)") }
                port = p
            }
            host = inner
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
                throw ParseError(description: "port in \(url) must be 1..65535")
            }
            port = p
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw ParseError(description: "no host in \(url)") }
        return RedisEndpoint(address: .tcp(host: host, port: port), database: database, password: password)
    }

    /// The URL with any password masked, for logs and `/healthz`.
    public var description: String {
        let db = database == 0 ? "" : "/\(database)"
        switch address {
        case .tcp(let host, let port):
            let auth = password == nil ? "" : ":***@"
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "redis://\(auth)\(shownHost):\(port)\(db)"
        case .unix(let path):
            return "unix://\(path)" + (database == 0 ? "" : "?db=\(database)")
        }
    }
}
