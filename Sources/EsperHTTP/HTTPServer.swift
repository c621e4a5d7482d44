internal import CMicroHTTPD
public import Logging
import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// The HTTP server: one thread accepts (`ConnectionAcceptor`) and gives each connection to
/// the libmicrohttpd daemon holding the fewest — one daemon, one epoll thread per configured
/// HTTP thread — which calls `handle` on its thread; we collect the body (enforcing the limit
/// while reading), route, run the handler, and answer.
/// Every response carries `X-Request-Id`; every error is problem+json; each request is
/// counted, timed and logged once when libmicrohttpd reports it complete.
public final class HTTPServer: @unchecked Sendable {
    public let configuration: HTTPServerConfiguration
    let router: Router
    public var routes: [Router.Route] { router.routes }
    let logger: Logger
    let metrics: HTTPMetrics?
    /// Per-route metric series, indexed by `Route.index`; the last is for unmatched requests.
    private let routeSeries: [HTTPMetrics.RouteSeries]
    private let authenticator: Authenticator
    /// The per-address cap and the light-client reserve, enforced at accept time.
    private let budget: ConnectionBudget

    private let daemons = Mutex(Daemons())
    private let acceptor = Mutex<ConnectionAcceptor?>(nil)
    /// Streaming responses in progress (ended first when the server stops).
    private let openStreams = Mutex<[ObjectIdentifier: EventStream]>([:])
    /// Requests parked until their deferred answer (answered with a 503 when the server
    /// stops first: libmicrohttpd does not stop with a connection suspended).
    private let parked = Mutex<[ObjectIdentifier: DeferredResponse]>([:])
    private let inFlight = Atomic<Int>(0)
    /// Set when `stop` begins: new connections are refused by the accept policy, answers
    /// ask keep-alive clients to close, and a request that would park is answered 503.
    private let stopping = Atomic<Bool>(false)
    private let accessLogSampler: AccessLogSampler
    /// The sampler of probe routes (health checks, scrapes), by `Route.index`; nil elsewhere.
    private let probeSamplers: [AccessLogSampler?]
    private var logContext: UnsafeMutablePointer<esper_mhd_log_ctx>?
    /// The port actually bound (differs from the configured one when that is 0).
    public private(set) var port: UInt16 = 0

    public init(
        configuration: HTTPServerConfiguration, router: Router, logger: Logger, metrics: HTTPMetrics?,
        authenticator: Authenticator = Authenticator(token: nil, protectReads: false)
    ) {
        self.authenticator = authenticator
        self.configuration = configuration
        accessLogSampler = AccessLogSampler(rate: configuration.accessLogSample, slowMilliseconds: configuration.accessLogSlowMilliseconds)
        self.router = router
        let probeSampler = AccessLogSampler(
            rate: configuration.accessLogProbeSample, slowMilliseconds: configuration.accessLogSlowMilliseconds)
        probeSamplers = router.routes.map { configuration.probeRoutes.contains($0.pattern) ? probeSampler : nil }
        self.logger = logger
        self.metrics = metrics
        self.routeSeries = metrics?.series(for: router.routes) ?? []
        budget = ConnectionBudget(
            maxConnections: configuration.maxConnections, perAddress: configuration.maxConnectionsPerIP,
            reserved: configuration.reservedConnections, trusted: Set(configuration.trustedProxies))
    }

    /// Connections open now (as counted by the connection budget, from admission to close).
    public var openConnections: Int { budget.open }

    /// Connections counted now for one client address (as the accept policy sees it).
    public func openConnections(from address: String) -> Int { budget.held(by: address) }

    /// Connections each HTTP thread holds now.
    var connectionsPerThread: [Int] { daemons.withLock { $0.held } }

    deinit {
        stop()
        logContext?.deallocate()
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Binds and starts the thread pool. Throws when the address cannot be resolved or bound.
    public func start() throws {
        stopping.store(false, ordering: .sequentiallyConsistent)
        let address = try SocketAddress.resolve(host: configuration.host, port: configuration.port)
        let listener: ConnectionAcceptor
        do {
            listener = try ConnectionAcceptor(address: address, backlog: configuration.listenBacklog)
        } catch {
            throw StartError(
                description:
                    "cannot listen on \(configuration.host):\(configuration.port) (\(error.description); address in use, or not an address of this machine)"
            )
        }
        // No listening socket of their own: connections come from the acceptor, admitted by
        // the budget (`admit`; MHD_add_connection wakes the daemon's thread).
        var flags =
            MHD_USE_EPOLL.rawValue | MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_ERROR_LOG.rawValue
            | MHD_USE_ITC.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_TURBO.rawValue | MHD_USE_NO_LISTEN_SOCKET.rawValue
        if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }

        let logContext = UnsafeMutablePointer<esper_mhd_log_ctx>.allocate(capacity: 1)
        logContext.initialize(
            to: esper_mhd_log_ctx(
                sink: { cls, message in
                    guard let cls, let message else { return }
                    let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
                    server.logger.warning(
                        "libmicrohttpd: \(String(decoding: UnsafeRawBufferPointer(start: message, count: strlen(message)), as: UTF8.self).trimmingSuffix("\n"))"
                    )
                }, cls: Unmanaged.passUnretained(self).toOpaque()))
        self.logContext = logContext

        var started: [OpaquePointer] = []
        for _ in 0..<max(1, configuration.threads) {
            var options: [MHD_OptionItem] = [
                MHD_OptionItem(option: MHD_OPTION.CONNECTION_TIMEOUT, value: configuration.connectionTimeoutSeconds, ptr_value: nil),
                // The budget enforces both limits at admission (per address, with the reserve
                // and trusted proxies); libmicrohttpd's own limit is only a backstop.
                MHD_OptionItem(option: MHD_OPTION.CONNECTION_LIMIT, value: configuration.maxConnections + 64, ptr_value: nil),
                MHD_OptionItem(option: MHD_OPTION.CONNECTION_MEMORY_LIMIT, value: configuration.connectionMemoryLimitBytes, ptr_value: nil),
                MHD_OptionItem(option: MHD_OPTION.END, value: 0, ptr_value: nil),
            ]
            let daemon = options.withUnsafeMutableBufferPointer { buffer in
                esper_mhd_start(
                    UInt32(flags), HTTPServer.accessHandler, Unmanaged.passUnretained(self).toOpaque(),
                    HTTPServer.completedHandler, Unmanaged.passUnretained(self).toOpaque(),
                    nil, HTTPServer.connectionNotifier, Unmanaged.passUnretained(self).toOpaque(),
                    logContext, buffer.baseAddress)
            }
            guard let daemon else {
                listener.stop()
                for running in started { MHD_stop_daemon(running) }
                throw StartError(description: "cannot start the HTTP threads (libmicrohttpd refused; see the log)")
            }
            started.append(daemon)
        }
        port = listener.port
        daemons.withLock { $0 = Daemons(pointers: started) }
        acceptor.withLock { $0 = listener }
        // Unretained, as libmicrohttpd's callbacks hold the server: `stop` (also from
        // deinit) joins the accepting thread before anything it uses goes away.
        listener.start { [unowned(unsafe) self] socket, address, length in self.admit(socket, address, length) }
    }

    /// Admits an accepted connection by the budget and gives it to the daemon holding the
    /// fewest; a refused one is closed at once.
    private func admit(_ socket: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) {
        let peer = SocketAddress.describe(address)
        guard !stopping.load(ordering: .sequentiallyConsistent), budget.reserve(peer) else {
            metrics?.connectionsRefused.increment()
            close(socket)
            return
        }
        guard let (daemon, index) = daemons.withLock({ $0.leastHeld() }) else {
            budget.closed(peer)
            close(socket)
            return
        }
        // libmicrohttpd closes the socket when it cannot take the connection.
        if MHD_add_connection(daemon, socket, address, length) != .YES {
            budget.closed(peer)
            daemons.withLock { if $0.held.indices.contains(index) { $0.held[index] -= 1 } }
        }
    }

    /// Graceful stop: stop accepting, let in-flight requests finish (up to `grace`), then
    /// close every connection and join the pool threads.
    ///
    /// New connections stop with the acceptor (the daemons have no listening socket to
    /// quiesce). No connection may be left suspended when a daemon stops (libmicrohttpd
    /// panics), so a request that parks after this point is answered at once.
    public func stop(grace: Duration = .seconds(10)) {
        // Nothing new comes in (connecting clients are refused once the socket is closed);
        // the accepting thread is gone before the daemons are taken.
        let listener = acceptor.withLock { value -> ConnectionAcceptor? in
            defer { value = nil }
            return value
        }
        guard let listener else { return }
        stopping.store(true, ordering: .sequentiallyConsistent)
        listener.stop()
        let running = daemons.withLock { value -> [OpaquePointer] in
            defer { value = Daemons() }
            return value.pointers
        }
        // Event streams never end by themselves; end them so their connections complete.
        for stream in openStreams.withLock({ Array($0.values) }) { stream.finish() }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while inFlight.load(ordering: .acquiring) > 0 && clock.now < deadline {
            usleep(2_000)
        }
        // Every request parked before `stopping` was set is in this list (`park` registers
        // before it looks at the flag); those parking later answer themselves.
        for deferred in parked.withLock({ Array($0.values) }) { deferred.resolve(HTTPServer.stoppingAnswer) }
        let resumed = clock.now.advanced(by: .seconds(1))
        while !parked.withLock({ $0.isEmpty }) && clock.now < resumed { usleep(2_000) }
        for daemon in running { MHD_stop_daemon(daemon) }
        budget.reset()
    }

    /// What a request parked while the server stops is answered.
    private static let stoppingAnswer: DeferredResponse.Maker = {
        .problem(Problem(status: 503, detail: "the server is stopping; the outcome is unknown (retry with the same Idempotency-Key)"))
    }

    public var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }

    /// Streaming responses currently open.
    public var openStreamCount: Int { openStreams.withLock { $0.count } }

    // MARK: - libmicrohttpd callbacks

    private static let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadDataSize, conCls in
        guard let cls, let connection, let url, let method, let uploadDataSize, let conCls else { return .NO }
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        return server.handle(connection, url, method, uploadData, uploadDataSize, conCls)
    }

    /// Keeps the peer's printed address in the connection's socket context from "started" to
    /// "closed": requests on a keep-alive connection read it instead of printing it again.
    private static let connectionNotifier: MHD_NotifyConnectionCallback = { cls, connection, socketContext, code in
        guard let cls, let connection, let socketContext else { return }
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        switch code {
        case .CONNECTION_NOTIFY_STARTED:
            let peer = ConnectionPeer(address: SocketAddress.describe(esper_mhd_client_address(connection)))
            socketContext.pointee = Unmanaged.passRetained(peer).toOpaque()
        case .CONNECTION_NOTIFY_CLOSED:
            if let daemon = esper_mhd_connection_daemon(connection) { server.daemons.withLock { $0.closed(on: daemon) } }
            if let raw = socketContext.pointee {
                socketContext.pointee = nil
                server.budget.closed(Unmanaged<ConnectionPeer>.fromOpaque(raw).takeRetainedValue().address)
            } else {
                server.budget.closed(SocketAddress.describe(esper_mhd_client_address(connection)))
            }
        default: break
        }
    }

    /// The peer's printed address: from the socket context, else printed now.
    private static func peerAddress(_ connection: OpaquePointer) -> String {
        if let raw = esper_mhd_socket_context(connection) {
            return Unmanaged<ConnectionPeer>.fromOpaque(raw).takeUnretainedValue().address
        }
        return SocketAddress.describe(esper_mhd_client_address(connection))
    }

    private static let completedHandler: MHD_RequestCompletedCallback = { cls, _, conCls, termination in
        guard let cls, let conCls, let raw = conCls.pointee else { return }
        conCls.pointee = nil
        let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
        let state = Unmanaged<RequestState>.fromOpaque(raw).takeRetainedValue()
        server.finish(state, completed: termination == .REQUEST_TERMINATED_COMPLETED_OK)
    }

    private func handle(
        _ connection: OpaquePointer, _ url: UnsafePointer<CChar>, _ method: UnsafePointer<CChar>,
        _ uploadData: UnsafePointer<CChar>?, _ uploadDataSize: UnsafeMutablePointer<Int>,
        _ conCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        if conCls.pointee == nil {
            let state = RequestState(method: String(cString: method), path: String(cString: url))
            conCls.pointee = Unmanaged.passRetained(state).toOpaque()
            inFlight.add(1, ordering: .relaxed)
            let contentLength = lookup(connection, .HEADER_KIND, "Content-Length")
            if let declared = contentLength, let size = Int(declared), size > configuration.maxBodyBytes {
                return respond(state, connection, tooLarge(), closeConnection: true)
            }
            // Answer on the next call, once libmicrohttpd has read the (possibly empty) body:
            // a response queued now would make it close the connection (no keep-alive).
            return .YES
        }
        let state = Unmanaged<RequestState>.fromOpaque(conCls.pointee!).takeUnretainedValue()
        let size = uploadDataSize.pointee
        if size > 0 {
            if !state.responded && !state.bodyTooLarge, let uploadData {
                if state.body.count + size > configuration.maxBodyBytes {
                    state.bodyTooLarge = true
                    state.body = []
                } else {
                    uploadData.withMemoryRebound(to: UInt8.self, capacity: size) {
                        state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
                    }
                }
            }
            uploadDataSize.pointee = 0
            return .YES
        }
        if state.deferred != nil { return answerDeferred(state, connection) }
        if state.responded { return .YES }
        if state.bodyTooLarge { return respond(state, connection, tooLarge(), closeConnection: true) }
        return dispatch(state, connection)
    }

    private func tooLarge() -> HTTPResponse {
        .problem(Problem(status: 413, detail: "the request body exceeds the limit of \(configuration.maxBodyBytes) bytes"))
    }

    private func dispatch(_ state: RequestState, _ connection: OpaquePointer) -> MHD_Result {
        let headerMap = headers(connection)
        state.requestId = RequestID.accept(headerMap["x-request-id"]) ?? RequestID.make()
        var request = HTTPRequest(
            method: state.method, path: state.path, queryItems: collect(connection, .GET_ARGUMENT_KIND),
            headers: headerMap, body: state.body, requestId: state.requestId,
            remoteAddress: clientAddress(peer: HTTPServer.peerAddress(connection), headerMap["x-forwarded-for"]))
        state.body = []
        if let problem = HTTPServer.controlCharacterProblem(path: state.path, query: request.queryItems) {
            state.route = "unmatched"
            return respond(state, connection, .problem(problem), closeConnection: false)
        }
        let response: HTTPResponse
        switch router.match(method: state.method, path: state.path) {
        case .found(let route, let parameters):
            state.route = route.pattern
            state.routeIndex = route.index
            request.pathParameters = parameters
            if let denied = authenticator.check(route, authorization: headerMap["authorization"]) {
                response = .problem(denied)
            } else {
                response = run(route.handler, request)
            }
        case .methodNotAllowed(let allowed):
            state.route = "unmatched"
            response = .problem(
                Problem(
                    status: 405, detail: "\(state.method) is not allowed on \(state.path); allowed: \(allowed.joined(separator: ", "))",
                    headers: ["Allow": allowed.joined(separator: ", ")]))
        case .notFound:
            state.route = "unmatched"
            response = .problem(Problem.notFound("no resource at \(state.path)"))
        }
        return respond(state, connection, response, closeConnection: false)
    }

    /// The client: the peer, or behind a trusted proxy the rightmost `X-Forwarded-For` entry
    /// that is not itself a trusted proxy (entries left of it could be forged by the client).
    func clientAddress(peer: String, _ forwarded: String?) -> String {
        guard budget.trusted.contains(peer), let forwarded else { return peer }
        let hops = forwarded.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }.filter { !$0.isEmpty }
        return hops.last { !budget.trusted.contains($0) } ?? peer
    }

    /// A path or query argument with a control character (a decoded `%00`, `%0A`, …) is
    /// refused before routing: ids and names never contain one, and a NUL would otherwise end
    /// the path early (the unescape callback turns it into 0x01 so it stays visible here).
    static func controlCharacterProblem(path: String, query: [(String, String)]) -> Problem? {
        func hasControl(_ text: String) -> Bool { text.utf8.contains { $0 < 0x20 || $0 == 0x7F } }
        if hasControl(path) {
            return Problem.badRequest("the path contains a control character (such as %00 or %0A)")
        }
        if let item = query.first(where: { hasControl($0.0) || hasControl($0.1) }) {
            let name = hasControl(item.0) ? "a query parameter name" : "query parameter \(item.0)"
            return Problem.badRequest("\(name) contains a control character (such as %00 or %0A)")
        }
        return nil
    }

    private func run(_ handler: HTTPHandler, _ request: HTTPRequest) -> HTTPResponse {
        do {
            return try handler(request)
        } catch let problem as Problem {
            return .problem(problem)
        } catch {
            logger.error("handler failed", metadata: ["request_id": "\(request.requestId)", "error": "\(error)"])
            return .problem(
                Problem(status: 500, detail: "internal error (request id \(request.requestId)); the server log has the details"))
        }
    }

    private func respond(_ state: RequestState, _ connection: OpaquePointer, _ response: HTTPResponse, closeConnection: Bool) -> MHD_Result
    {
        if state.requestId.isEmpty {
            state.requestId = RequestID.accept(lookup(connection, .HEADER_KIND, "X-Request-Id")) ?? RequestID.make()
        }
        if let deferred = response.deferred { return park(state, connection, deferred) }
        state.responded = true
        state.status = response.status
        state.responseBytes = response.body.count
        if let stream = response.stream { return respond(state, connection, response, stream: stream) }
        // Not copied: the request state holds the body (an array nobody mutates, so its
        // storage stays put) until libmicrohttpd reports the request complete, after the last
        // byte was sent. A cached body (health) is then sent straight from the cache.
        state.responseBody = response.body
        let mhdResponse = state.responseBody.withUnsafeBytes { raw in
            MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_PERSISTENT)
        }
        guard let mhdResponse else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for header in response.headers { _ = MHD_add_response_header(mhdResponse, header.name, header.value) }
        _ = MHD_add_response_header(mhdResponse, "X-Request-Id", state.requestId)
        if closeConnection || stopping.load(ordering: .relaxed) {
            _ = MHD_add_response_header(mhdResponse, "Connection", "close")
        }
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
    }

    /// A streaming response: the connection's socket gets a modest send buffer (a client that
    /// stops reading shows up in our bounded buffer, not hidden in megabytes of kernel
    /// buffers), and the stream is tracked until the request completes.
    private func respond(_ state: RequestState, _ connection: OpaquePointer, _ response: HTTPResponse, stream: EventStream) -> MHD_Result {
        guard let mhdResponse = stream.makeResponse() else { return .NO }
        defer { MHD_destroy_response(mhdResponse) }
        for header in response.headers { _ = MHD_add_response_header(mhdResponse, header.name, header.value) }
        _ = MHD_add_response_header(mhdResponse, "X-Request-Id", state.requestId)
        let fd = esper_mhd_connection_fd(connection)
        if fd >= 0 {
            var size: Int32 = 64 * 1024
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        stream.attach(connection, socket: fd)
        state.stream = stream
        openStreams.withLock { $0[ObjectIdentifier(stream)] = stream }
        return MHD_queue_response(connection, UInt32(response.status), mhdResponse)
    }

    /// Parks the request until its deferred answer (at once if it is already there).
    private func park(_ state: RequestState, _ connection: OpaquePointer, _ deferred: DeferredResponse) -> MHD_Result {
        state.deferred = deferred
        parked.withLock { $0[ObjectIdentifier(deferred)] = deferred }
        // Registered first, then the flag: `stop` sets the flag before it reads the list, so
        // a request is either in its list or sees the flag here, never suspended past it.
        if stopping.load(ordering: .sequentiallyConsistent) { deferred.resolve(HTTPServer.stoppingAnswer) }
        if deferred.park(connection) { return .YES }
        return answerDeferred(state, connection)
    }

    /// The connection was resumed (or never parked): the deferred answer is made here, on
    /// the connection's pool thread.
    private func answerDeferred(_ state: RequestState, _ connection: OpaquePointer) -> MHD_Result {
        guard let deferred = state.deferred, let make = deferred.take() else { return .YES }
        state.deferred = nil
        parked.withLock { $0[ObjectIdentifier(deferred)] = nil }
        let response: HTTPResponse
        do {
            response = try make()
        } catch let problem as Problem {
            response = .problem(problem)
        } catch {
            logger.error("handler failed", metadata: ["request_id": "\(state.requestId)", "error": "\(error)"])
            response = .problem(
                Problem(status: 500, detail: "internal error (request id \(state.requestId)); the server log has the details"))
        }
        return respond(state, connection, response, closeConnection: false)
    }

    private func finish(_ state: RequestState, completed: Bool) {
        inFlight.subtract(1, ordering: .relaxed)
        if let deferred = state.deferred {
            // Gone while parked (only a stopping server closes such a connection).
            deferred.connectionClosed()
            parked.withLock { $0[ObjectIdentifier(deferred)] = nil }
        }
        if let stream = state.stream {
            stream.connectionClosed()
            openStreams.withLock { $0[ObjectIdentifier(stream)] = nil }
            state.responseBytes = stream.bytesSent
        }
        guard state.responded else { return }  // the client went away before we answered
        let elapsed = Int64(monotonicNanoseconds() - state.startNanoseconds)
        if !routeSeries.isEmpty {
            let series = state.routeIndex >= 0 ? routeSeries[state.routeIndex] : routeSeries[routeSeries.count - 1]
            series.record(method: state.method, status: state.status, nanoseconds: elapsed)
        }
        let sampler = (state.routeIndex >= 0 ? probeSamplers[state.routeIndex] : nil) ?? accessLogSampler
        if configuration.accessLog, sampler.shouldLog(method: state.method, status: state.status, nanoseconds: elapsed) {
            // One preformatted line, no metadata dictionary: this runs for every request.
            let micros = elapsed / 1000
            logger.info(
                "\(state.method) \(state.path) \(state.status) \(micros / 1000).\(String(micros % 1000 + 1000).dropFirst())ms \(state.responseBytes)B id=\(state.requestId) route=\(state.route)\(completed ? "" : " aborted")"
            )
        }
    }

    // MARK: - connection values

    private func lookup(_ connection: OpaquePointer, _ kind: MHD_ValueKind, _ key: String) -> String? {
        MHD_lookup_connection_value(connection, kind, key).map { String(cString: $0) }
    }

    private final class Collected {
        var items: [(name: String, value: String)] = []
    }

    private final class CollectedHeaders {
        var map: [String: String] = [:]
    }

    /// The request's headers by lower-case name (a repeated header: the last one), built in
    /// one pass over libmicrohttpd's list.
    private func headers(_ connection: OpaquePointer) -> [String: String] {
        let collected = CollectedHeaders()
        withExtendedLifetime(collected) {
            _ = MHD_get_connection_values(
                connection, .HEADER_KIND,
                { cls, _, key, value in
                    guard let cls, let key else { return .YES }
                    let collected = Unmanaged<CollectedHeaders>.fromOpaque(cls).takeUnretainedValue()
                    collected.map[HTTPServer.lowercased(key)] = value.map { String(cString: $0) } ?? ""
                    return .YES
                }, Unmanaged.passUnretained(collected).toOpaque())
        }
        return collected.map
    }

    /// An ASCII header name in lower case, straight from the C string (header names are
    /// tokens; other bytes are kept as they are).
    static func lowercased(_ name: UnsafePointer<CChar>) -> String {
        let length = strlen(name)
        return String(unsafeUninitializedCapacity: length) { out in
            for i in 0..<length {
                let byte = UInt8(bitPattern: name[i])
                out[i] = byte >= 65 && byte <= 90 ? byte + 32 : byte
            }
            return length
        }
    }

    private func collect(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [(name: String, value: String)] {
        let collected = Collected()
        withExtendedLifetime(collected) {
            _ = MHD_get_connection_values(
                connection, kind,
                { cls, _, key, value in
                    guard let cls, let key else { return .YES }
                    let collected = Unmanaged<Collected>.fromOpaque(cls).takeUnretainedValue()
                    collected.items.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
                    return .YES
                }, Unmanaged.passUnretained(collected).toOpaque())
        }
        return collected.items
    }
}

/// The running daemons and how many connections each holds (counted from admission to
/// libmicrohttpd's "closed"; a connection that fails between the two would stay counted,
/// which only skews the choice). libmicrohttpd synchronises its own use of the daemons.
struct Daemons: @unchecked Sendable {
    var pointers: [OpaquePointer] = []
    var held: [Int] = []

    init(pointers: [OpaquePointer] = []) {
        self.pointers = pointers
        held = Array(repeating: 0, count: pointers.count)
    }

    /// The daemon holding the fewest connections, counted as holding one more.
    mutating func leastHeld() -> (OpaquePointer, Int)? {
        guard let index = held.indices.min(by: { held[$0] < held[$1] }) else { return nil }
        held[index] += 1
        return (pointers[index], index)
    }

    mutating func closed(on daemon: OpaquePointer) {
        if let index = pointers.firstIndex(of: daemon), held[index] > 0 { held[index] -= 1 }
    }
}

/// What the server keeps per connection (libmicrohttpd's socket context).
final class ConnectionPeer {
    let address: String
    init(address: String) { self.address = address }
}

/// Per-request state, owned by libmicrohttpd's `*con_cls` from the first callback to the
/// completion callback. Only the connection's thread touches it.
final class RequestState {
    let method: String
    let path: String
    let startNanoseconds = monotonicNanoseconds()
    var body: [UInt8] = []
    /// The response body libmicrohttpd sends from (kept here until the request completes).
    var responseBody: [UInt8] = []
    var bodyTooLarge = false
    var responded = false
    var status = 0
    var responseBytes = 0
    var route = "unmatched"
    var routeIndex = -1
    var requestId = ""
    /// The body of a streaming response.
    var stream: EventStream?
    /// The answer the request is parked for.
    var deferred: DeferredResponse?

    init(method: String, path: String) {
        self.method = method
        self.path = path
    }
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
