import EsperTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import EsperHTTP

/// A server with two pool threads whose `/parked/{n}` requests wait for `release`.
final class ParkingServer: @unchecked Sendable {
    /// The requests parked so far, in arrival order.
    final class Parked: Sendable {
        let list = Mutex<[(String, DeferredResponse)]>([])
        var count: Int { list.withLock { $0.count } }
    }

    let server: HTTPServer
    let parked = Parked()

    init() throws {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.threads = 2
        configuration.accessLog = false
        var router = Router()
        let parked = self.parked
        router.add("GET", "/parked/{n}") { request in
            let deferred = DeferredResponse()
            parked.list.withLock { $0.append((request.pathParameter("n"), deferred)) }
            return .deferred(deferred)
        }
        router.add("GET", "/now") { _ in
            let deferred = DeferredResponse()
            deferred.resolve { .text("at once", status: 201) }
            return .deferred(deferred)
        }
        router.add("GET", "/soon") { _ in
            // Answered from another thread a moment later, as a group commit answers a create.
            let deferred = DeferredResponse()
            DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(Int.random(in: 0...2_000))) {
                deferred.resolve { .text("soon") }
            }
            return .deferred(deferred)
        }
        router.add("GET", "/refused") { _ in
            let deferred = DeferredResponse()
            DispatchQueue.global().async {
                deferred.resolve { throw Problem.conflict("taken") }
            }
            return .deferred(deferred)
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        server = HTTPServer(configuration: configuration, router: router, logger: logger, metrics: nil)
        try server.start()
    }

    /// Resolves every parked request with its own number.
    func release() {
        for (n, deferred) in parked.list.withLock({ $0 }) { deferred.resolve { .text("answer \(n)") } }
    }

    deinit { server.stop(grace: .seconds(1)) }
}

/// Answers given after the handler returned (`HTTPResponse.deferred`): the request is parked
/// without holding a pool thread, resumed from another thread, and answered on its own
/// connection; one resolved before the handler returns is answered at once; what the maker
/// throws is answered as a handler's error; a server that stops answers what is still parked.
@Suite(.serialized) struct DeferredResponseTests {
    @Test func manyRequestsParkAtOnceOnTwoPoolThreadsAndEachGetsItsOwnAnswer() throws {
        let server = try ParkingServer()
        let port = server.server.port
        let clients = 24
        let answers = Mutex<[Int: RawResponse]>([:])
        let group = DispatchGroup()
        for n in 0..<clients {
            // A thread each (the dispatch pool would run only a few blocked clients at once).
            group.enter()
            Thread.detachNewThread {
                if let response = try? RawHTTP.request(port: port, path: "/parked/\(n)") {
                    answers.withLock { $0[n] = response }
                }
                group.leave()
            }
        }
        // All of them are parked together: two pool threads held by waiting handlers could
        // never take the third request.
        #expect(eventually(within: 30) { server.parked.count == clients })
        #expect(answers.withLock { $0.isEmpty })
        server.release()
        group.wait()
        let got = answers.withLock { $0 }
        #expect(got.count == clients)
        for n in 0..<clients {
            #expect(got[n]?.status == 200)
            #expect(got[n]?.text == "answer \(n)")
            #expect(got[n]?.header("x-request-id")?.isEmpty == false)
        }
    }

    @Test func resolvedBeforeReturningAnswersAtOnceAndAThrownProblemIsTheAnswer() throws {
        let server = try ParkingServer()
        let now = try RawHTTP.request(port: server.server.port, path: "/now")
        #expect(now.status == 201)
        #expect(now.text == "at once")
        let refused = try RawHTTP.request(port: server.server.port, path: "/refused")
        #expect(refused.status == 409)
        #expect(refused.header("content-type") == "application/problem+json")
    }

    /// Keep-alive clients park requests as fast as they can while the server stops, many
    /// times over. libmicrohttpd aborts the whole process if a connection is still suspended
    /// when its daemon stops, or if quiescing races a worker over the listening socket; here
    /// every request gets an answer (200, or 503 once stopping) or its connection closes, and
    /// nothing hangs.
    @Test func stoppingWhileKeepAliveClientsParkRequestsAnswersOrClosesEachOne() throws {
        for _ in 0..<25 {
            let server = try ParkingServer()
            let port = server.server.port
            let statuses = Mutex<[Int: Int]>([:])
            let group = DispatchGroup()
            for _ in 0..<6 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    guard let connection = try? RawHTTPConnection(port: port, timeoutSeconds: 15) else { return }
                    while connection.send("GET /soon HTTP/1.1\r\nHost: x\r\n\r\n"),
                        let response = try? connection.readResponse()
                    {
                        statuses.withLock { $0[response.status, default: 0] += 1 }
                        if response.header("connection") == "close" { return }
                    }
                }
            }
            #expect(eventually(within: 10) { statuses.withLock { $0[200, default: 0] } >= 6 })
            server.server.stop(grace: .milliseconds(Int.random(in: 0...20)))
            #expect(group.wait(timeout: .now() + 30) == .success)
            let seen = statuses.withLock { $0 }
            #expect(Set(seen.keys).isSubset(of: [200, 503]), "\(seen)")
        }
    }

    @Test func aServerStoppingWithARequestParkedAnswersIt503() throws {
        let server = try ParkingServer()
        let connection = try RawHTTPConnection(port: server.server.port)
        connection.send("GET /parked/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually(within: 10) { server.parked.count == 1 })
        server.server.stop(grace: .milliseconds(100))
        let response = try connection.readResponse()
        #expect(response.status == 503)
        // Resolving after the stop is a no-op (the connection is gone).
        server.release()
    }
}
