import EsperJSON
import EsperTestSupport
import Foundation
import Logging
import Prometheus
import Synchronization
import Testing

@testable import EsperHTTP

struct Echo: Codable {
    var name: String
    var count: Int
}

/// A server with a few test routes on an ephemeral port.
final class TestServer {
    let server: HTTPServer
    let registry = PrometheusCollectorRegistry()
    var port: UInt16 { server.port }

    init(token: String? = nil, protectReads: Bool = false, configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.accessLog = false
        configure(&configuration)
        var router = Router()
        router.add("POST", "/echo") { request in
            let echo = try request.decodeJSON(Echo.self)
            guard echo.count >= 0 else { throw Problem.validation([JSONFieldProblem(field: "count", message: "must be ≥ 0")]) }
            return try .json(echo, status: 201)
        }
        router.add("GET", "/items/{id}") { request in
            try .json(["id": request.pathParameter("id"), "filter": request.query("filter") ?? ""])
        }
        router.add("GET", "/slow") { _ in
            usleep(400_000)
            return .text("done")
        }
        router.add("GET", "/boom") { _ in throw CocoaError(.fileNoSuchFile) }
        router.add("GET", "/open", isPublic: true) { _ in .text("open") }
        router.add("GET", "/whoami") { request in
            try .json([
                "address": request.remoteAddress, "agent": request.header("User-Agent") ?? "",
                "repeated": request.headers["x-repeated"] ?? "", "names": request.headers.keys.sorted().joined(separator: ","),
            ])
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        server = HTTPServer(
            configuration: configuration, router: router, logger: logger, metrics: HTTPMetrics(registry: registry),
            authenticator: Authenticator(token: token, protectReads: protectReads))
        try server.start()
    }

    deinit { server.stop(grace: .seconds(1)) }
}

@Suite(.serialized) struct HTTPServerTests {
    @Test func aSecondServerOnAPortInUseRefusesToStart() throws {
        let first = try TestServer()
        #expect(throws: HTTPServer.StartError.self) { _ = try TestServer { $0.port = first.port } }
        // The first one still answers every connection.
        for _ in 0..<4 {
            #expect(try RawHTTP.request(port: first.port, method: "GET", path: "/open").status == 200)
        }
    }

    @Test func malformedJSONIs400NamingThePosition() throws {
        let server = try TestServer()
        let response = try RawHTTP.request(
            port: server.port, method: "POST", path: "/echo",
            headers: ["Content-Type": "application/json"], body: Array("{\"name\": \"a\",\n \"count\": }".utf8))
        #expect(response.status == 400)
        #expect(response.header("content-type") == "application/problem+json")
        let problem = try RawHTTP.json(response)
        #expect(problem["type"] as? String == "/problems/malformed-json")
        #expect((problem["detail"] as? String)?.contains("line 2") == true)
        #expect(problem["status"] as? Int == 400)
        #expect(problem["title"] != nil)
    }

    @Test func validBodyRoundTripsAndInvalidFieldsAre422() throws {
        let server = try TestServer()
        let ok = try RawHTTP.request(port: server.port, method: "POST", path: "/echo", body: Array(#"{"name":"a","count":2}"#.utf8))
        #expect(ok.status == 201)
        #expect(ok.text == #"{"count":2,"name":"a"}"#)

        let wrongType = try RawHTTP.request(port: server.port, method: "POST", path: "/echo", body: Array(#"{"name":5,"count":2}"#.utf8))
        #expect(wrongType.status == 422)
        let errors = try RawHTTP.json(wrongType)["errors"] as? [[String: Any]]
        #expect(errors?.first?["field"] as? String == "name")

        let unknown = try RawHTTP.request(
            port: server.port, method: "POST", path: "/echo", body: Array(#"{"name":"a","count":2,"colour":1}"#.utf8))
        #expect(unknown.status == 400)
        #expect(try RawHTTP.json(unknown)["detail"] as? String == "unknown field: colour")

        let rule = try RawHTTP.request(port: server.port, method: "POST", path: "/echo", body: Array(#"{"name":"a","count":-1}"#.utf8))
        #expect(rule.status == 422)
    }

    @Test func bodyOverTheLimitIs413() throws {
        let server = try TestServer { $0.maxBodyBytes = 1000 }
        let declared = try RawHTTP.request(
            port: server.port, method: "POST", path: "/echo",
            body: [UInt8](repeating: UInt8(ascii: "x"), count: 5000))
        #expect(declared.status == 413)
        #expect(declared.header("content-type") == "application/problem+json")

        // Chunked: no Content-Length, so the limit is enforced while reading.
        let connection = try RawHTTPConnection(port: server.port)
        connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
        for _ in 0..<4 { connection.send("1F4\r\n" + String(repeating: "y", count: 500) + "\r\n") }
        connection.send("0\r\n\r\n")
        #expect(try connection.readResponse().status == 413)

        // The server still serves.
        #expect(try RawHTTP.request(port: server.port, path: "/items/1").status == 200)
    }

    @Test func unknownPathIs404AndWrongMethodIs405WithAllow() throws {
        let server = try TestServer()
        let missing = try RawHTTP.request(port: server.port, path: "/nope")
        #expect(missing.status == 404)
        #expect(missing.header("content-type") == "application/problem+json")
        #expect(try RawHTTP.json(missing)["type"] as? String == "/problems/not-found")

        let wrong = try RawHTTP.request(port: server.port, method: "DELETE", path: "/echo")
        #expect(wrong.status == 405)
        #expect(wrong.header("allow") == "POST")
    }

    @Test func pathParametersAndQueryStrings() throws {
        let server = try TestServer()
        let response = try RawHTTP.request(port: server.port, path: "/items/abc%20def?filter=a%20b&x=1")
        let object = try RawHTTP.json(response)
        #expect(object["id"] as? String == "abc def")
        #expect(object["filter"] as? String == "a b")
        // libmicrohttpd decodes %2F before routing: it is a separator, never part of an id.
        #expect(try RawHTTP.request(port: server.port, path: "/items/abc%2Fdef").status == 404)
    }

    @Test func requestIdsAreEchoedOrMade() throws {
        let server = try TestServer()
        let echoed = try RawHTTP.request(port: server.port, path: "/items/1", headers: ["X-Request-Id": "client-abc.1"])
        #expect(echoed.header("x-request-id") == "client-abc.1")
        let made = try RawHTTP.request(port: server.port, path: "/items/1", headers: ["X-Request-Id": "bad id with spaces"])
        let id = try #require(made.header("x-request-id"))
        #expect(id.count == 16 && id != "bad id with spaces")
        let error = try RawHTTP.request(port: server.port, path: "/nope")
        #expect(error.header("x-request-id")?.count == 16)
    }

    @Test func handlerErrorsBecome500ProblemWithoutDetailsLeaking() throws {
        let server = try TestServer()
        let response = try RawHTTP.request(port: server.port, path: "/boom")
        #expect(response.status == 500)
        #expect(response.header("content-type") == "application/problem+json")
        #expect(!response.text.contains("fileNoSuchFile"))
    }

    @Test func idleClientIsDisconnectedAfterTheTimeout() throws {
        let server = try TestServer { $0.connectionTimeoutSeconds = 1 }
        let connection = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
        let start = Date()
        #expect(connection.isClosedByPeer())
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 0.5 && waited < 4.5, "closed after \(waited) s")
    }

    @Test func headerFloodAndHugeURLDoNotCrashTheServer() throws {
        let server = try TestServer { $0.connectionMemoryLimitBytes = 16 * 1024 }
        let flood = try RawHTTPConnection(port: server.port)
        var head = "GET /items/1 HTTP/1.1\r\nHost: x\r\n"
        for i in 0..<5000 { head += "X-Flood-\(i): \(String(repeating: "v", count: 20))\r\n" }
        flood.send(head + "\r\n")
        if let response = try? flood.readResponse() { #expect(response.status >= 400) }

        let huge = try RawHTTPConnection(port: server.port)
        huge.send("GET /items/" + String(repeating: "a", count: 200_000) + " HTTP/1.1\r\nHost: x\r\n\r\n")
        if let response = try? huge.readResponse() { #expect(response.status >= 400) }

        #expect(try RawHTTP.request(port: server.port, path: "/items/ok").status == 200)
    }

    @Test func headersReachHandlersByLowerCaseNameWithThePeerAddress() throws {
        let server = try TestServer()
        let connection = try RawHTTPConnection(port: server.port)
        // Two requests on one connection: the peer's address is kept per connection.
        for _ in 0..<2 {
            connection.send("GET /whoami HTTP/1.1\r\nHost: x\r\nUSER-Agent: probe/1\r\nX-Repeated: a\r\nx-repeated: b\r\n\r\n")
            let object = try RawHTTP.json(try connection.readResponse())
            #expect(object["address"] as? String == "127.0.0.1")
            #expect(object["agent"] as? String == "probe/1")
            #expect(object["repeated"] as? String == "b")  // the last of a repeated header
            #expect(object["names"] as? String == "host,user-agent,x-repeated")
        }
    }

    @Test func theDefaultConnectionBufferTakesAnEightKilobyteHeaderAndRefusesSixteen() throws {
        let server = try TestServer()
        #expect(server.server.configuration.connectionMemoryLimitBytes == 16 * 1024)
        let fits = try RawHTTP.request(port: server.port, path: "/items/1", headers: ["X-Large": String(repeating: "v", count: 8 * 1024)])
        #expect(fits.status == 200)
        let tooLarge = try RawHTTP.request(
            port: server.port, path: "/items/1", headers: ["X-Large": String(repeating: "v", count: 16 * 1024)])
        #expect(tooLarge.status == 431)
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        let server = try TestServer()
        let connection = try RawHTTPConnection(port: server.port)
        for i in 0..<3 {
            connection.send("GET /items/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try connection.readResponse()
            #expect(response.status == 200)
            #expect(response.text.contains("\"id\":\"\(i)\""))
        }
    }

    @Test func stopFinishesInFlightRequestsAndRefusesNewOnes() throws {
        let server = try TestServer()
        let port = server.port
        let connection = try RawHTTPConnection(port: port)
        connection.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually(within: 2) { server.server.requestsInFlight == 1 })
        let stopped = Date()
        server.server.stop(grace: .seconds(5))
        #expect(Date().timeIntervalSince(stopped) >= 0.2)
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.text == "done")
        #expect(throws: (any Error).self) { try RawHTTPConnection(port: port) }
    }

    @Test func metricsCountRequestsByRouteAndStatus() throws {
        let server = try TestServer()
        _ = try RawHTTP.request(port: server.port, path: "/items/1")
        _ = try RawHTTP.request(port: server.port, path: "/items/2")
        _ = try RawHTTP.request(port: server.port, path: "/nothing-here")
        var buffer: [UInt8] = []
        #expect(
            eventually(within: 2) {
                buffer = []
                server.registry.emit(into: &buffer)
                // Requests are counted when libmicrohttpd reports them complete, which can
                // come after the client has read the response: wait for all three.
                let text = String(decoding: buffer, as: UTF8.self)
                return text.contains(#"esper_http_requests_total{route="unmatched",method="GET",status="404"} 1"#)
                    && text.contains(#"esper_http_requests_total{route="/items/{id}",method="GET",status="200"} 2"#)
                    && text.contains(#"esper_http_request_duration_seconds_count{route="/items/{id}"} 2"#)
            })
    }

    @Test func connectionsAreSpreadEvenlyOverTheThreads() throws {
        // libmicrohttpd's own pool let whichever thread woke first accept: 32 connections
        // opened at once split 21/12, and the busier thread's clients waited twice as long.
        let server = try TestServer {
            $0.threads = 2
            $0.maxConnectionsPerIP = 0
        }
        var connections = try (0..<32).map { _ in try RawHTTPConnection(port: server.port) }
        for connection in connections {
            connection.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
        }
        #expect(server.server.connectionsPerThread == [16, 16])
        // Closing ten connections that went to alternate threads, then opening ten more, keeps
        // the split even: new ones go where fewest are.
        connections.removeSubrange(0..<10)
        #expect(eventually(within: 5) { server.server.openConnections == 22 })
        #expect(server.server.connectionsPerThread == [11, 11])
        connections += try (0..<10).map { _ in try RawHTTPConnection(port: server.port) }
        #expect(eventually(within: 5) { server.server.openConnections == 32 })
        #expect(server.server.connectionsPerThread == [16, 16])
        withExtendedLifetime(connections) {}
    }

    @Test func theServersSocketsAreNotInheritedByProcessesItStarts() throws {
        // Workers, redis-server and kernel checks are started from the server's process: a
        // connection inherited by one stays open after the server closes it. (The acceptor
        // sets close-on-exec right after accept, and MHD_add_connection sets it again.)
        let server = try TestServer()
        let connections = try (0..<4).map { _ in try RawHTTPConnection(port: server.port) }
        for connection in connections {
            connection.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
        }
        // The server's sockets are the ones whose local port is the server's: the listening
        // one and each accepted connection (the clients' have ports of their own).
        var serverSide = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            guard let fd = Int32(name) else { continue }
            var local = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard named == 0, local.sin_family == sa_family_t(AF_INET), UInt16(bigEndian: local.sin_port) == server.port else { continue }
            serverSide += 1
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "descriptor \(fd)")
        }
        #expect(serverSide == 1 + connections.count)
    }

    @Test func perIPConnectionLimitRefusesTheExtraConnection() throws {
        let server = try TestServer { $0.maxConnectionsPerIP = 2 }
        let first = try RawHTTPConnection(port: server.port)
        let second = try RawHTTPConnection(port: server.port)
        #expect(eventually(within: 5) { server.server.openConnections == 2 })
        let third = try RawHTTPConnection(port: server.port, timeoutSeconds: 5)
        #expect(third.isClosedByPeer())
        for connection in [first, second] {
            connection.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
        }
    }

    @Test func aBurstFromOneAddressNeverExceedsThePerAddressCap() throws {
        let cap = 3
        let burst = 24
        let server = try TestServer { $0.maxConnectionsPerIP = cap }
        let port = server.port
        let http = server.server
        // Every thread connects at the same moment, sends a request and keeps its connection
        // open until all have finished, so admitted connections overlap.
        let start = DispatchSemaphore(value: 0)
        let answered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchGroup()
        final class Tally: Sendable {
            let served = Mutex(0)
            let peak = Mutex(0)
        }
        let tally = Tally()
        for _ in 0..<burst {
            finished.enter()
            Thread {
                defer { finished.leave() }
                start.wait()
                let connection = try? RawHTTPConnection(port: port, timeoutSeconds: 5)
                var ok = false
                if let connection, connection.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n") {
                    ok = (try? connection.readResponse().status) == 200
                }
                if ok { tally.served.withLock { $0 += 1 } }
                let held = http.openConnections(from: "127.0.0.1")
                tally.peak.withLock { $0 = max($0, held) }
                answered.signal()
                release.wait()
                withExtendedLifetime(connection) {}
            }.start()
        }
        for _ in 0..<burst { start.signal() }
        for _ in 0..<burst { answered.wait() }
        let held = server.server.openConnections(from: "127.0.0.1")
        #expect(tally.served.withLock { $0 } >= 1)
        #expect(tally.served.withLock { $0 } <= cap)
        #expect(held <= cap)
        #expect(tally.peak.withLock { $0 } <= cap)
        for _ in 0..<burst { release.signal() }
        finished.wait()
        // Every admitted connection is released once it closes: the budget returns to zero.
        #expect(eventually(within: 10) { server.server.openConnections == 0 })
        // And the address is welcome again, up to the cap.
        let again = try RawHTTPConnection(port: port)
        again.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try again.readResponse().status == 200)
        #expect(server.server.openConnections(from: "127.0.0.1") == 1)
    }

    @Test func tokenProtectsMutatingRoutes() throws {
        let token = "s3cret-token-0123456789"
        let server = try TestServer(token: token)
        let body = Array(#"{"name":"a","count":1}"#.utf8)
        let none = try RawHTTP.request(port: server.port, method: "POST", path: "/echo", body: body)
        #expect(none.status == 401)
        #expect(none.header("www-authenticate")?.hasPrefix("Bearer") == true)
        let wrong = try RawHTTP.request(
            port: server.port, method: "POST", path: "/echo",
            headers: ["Authorization": "Bearer nope"], body: body)
        #expect(wrong.status == 403)
        let right = try RawHTTP.request(
            port: server.port, method: "POST", path: "/echo",
            headers: ["Authorization": "Bearer \(token)"], body: body)
        #expect(right.status == 201)
        #expect(try RawHTTP.request(port: server.port, path: "/items/1").status == 200)

        let locked = try TestServer(token: token, protectReads: true)
        #expect(try RawHTTP.request(port: locked.port, path: "/items/1").status == 401)
        #expect(try RawHTTP.request(port: locked.port, path: "/items/1", headers: ["Authorization": "Bearer \(token)"]).status == 200)
        #expect(try RawHTTP.request(port: locked.port, path: "/open").status == 200)
    }
}
