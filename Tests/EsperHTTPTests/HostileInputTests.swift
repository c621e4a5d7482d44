import EsperHTTP
import EsperJSON
import EsperTestSupport
import Foundation
import Testing

/// Paths with control characters and bodies that would make huge error answers (issue 16).
@Suite(.serialized) struct HostileInputTests {
    @Test func encodedNULAndOtherControlCharactersInThePathAre400() throws {
        let server = try TestServer()
        for path in ["/items/%00whatever", "/items/a%00", "/items/%0Aline", "/items/%7F", "/items/%1b"] {
            let response = try RawHTTP.request(port: server.port, path: path)
            #expect(response.status == 400, "\(path)")
            #expect(response.text.contains("control character"), "\(path)")
        }
        // The same route without the control character still answers.
        #expect(try RawHTTP.request(port: server.port, path: "/items/whatever").status == 200)
        // POST too: `%00` must not cut the path down to a route that creates something.
        let post = try RawHTTP.request(
            port: server.port, method: "POST", path: "/things/%00x", headers: ["Content-Type": "application/json"],
            body: Array("{}".utf8))
        #expect(post.status == 400)
    }

    @Test func controlCharactersInQueryArgumentsAre400() throws {
        let server = try TestServer()
        let response = try RawHTTP.request(port: server.port, path: "/items/1?filter=a%00b")
        #expect(response.status == 400)
        #expect(response.text.contains("filter"))
        let fine = try RawHTTP.request(port: server.port, path: "/items/1?filter=a%20b")
        #expect(fine.status == 200)
        #expect(fine.text.contains("a b"))
    }

    @Test func aBodyWithSixtyThousandUnknownFieldsGetsASmallAnswer() throws {
        let server = try TestServer()
        var body = "{\"name\":\"a\",\"count\":1"
        var index = 0
        while body.utf8.count < 1_000_000 - 40 {
            body += ",\"u\(index)\":0"
            index += 1
        }
        body += "}"
        #expect(index > 60_000)
        let response = try RawHTTP.request(
            port: server.port, method: "POST", path: "/echo", headers: ["Content-Type": "application/json"], body: Array(body.utf8))
        #expect(response.status == 400)
        #expect(response.body.count < 16_384, "answer of \(response.body.count) bytes")
        let problem = try RawHTTP.json(response)
        #expect((problem["errors"] as? [Any])?.count == Problem.maxListedErrors)
        #expect(problem["more_errors"] as? Int == index - Problem.maxListedErrors)
    }

    @Test func validationProblemsListTheFirstFiftyAndCountTheRest() {
        let errors = (0..<130).map { JSONFieldProblemFixture.make("f\($0)") }
        let problem = Problem.validation(errors)
        #expect(problem.errors.count == 50)
        #expect(problem.moreErrors == 80)
        #expect(problem.detail.hasSuffix("and 80 more errors"))
        #expect(!problem.detail.contains("f50:"))
    }
}

enum JSONFieldProblemFixture {
    static func make(_ field: String) -> JSONFieldProblem { JSONFieldProblem(field: field, message: "bad") }
}

/// Connection floods (issue 16): idle keep-alive connections from a few addresses fill the
/// server only up to the reserve; another address still gets served.
@Suite(.serialized) struct ConnectionFloodTests {
    /// Opens a connection from `source` and asks for one resource on it; the connection stays
    /// open (keep-alive) when the answer came.
    static func served(_ port: UInt16, from source: String) -> RawHTTPConnection? {
        guard let connection = try? RawHTTPConnection(port: port, timeoutSeconds: 5, source: source) else { return nil }
        connection.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        guard let response = try? connection.readResponse(), response.status == 200 else { return nil }
        return connection
    }

    @Test func idleConnectionsFromFewAddressesLeaveTheReserveToOthers() throws {
        let server = try TestServer {
            $0.maxConnections = 40
            $0.maxConnectionsPerIP = 0
            $0.reservedConnections = 8
        }
        var held: [RawHTTPConnection] = []
        for index in 0..<48 {
            if let connection = Self.served(server.port, from: "127.0.0.\(2 + index % 4)") { held.append(connection) }
        }
        // Four heavy addresses get the 32 unreserved slots (and nothing of the reserve).
        #expect(held.count == 32)
        // A new address is served from the reserve, several times over.
        var probes: [RawHTTPConnection] = []
        for _ in 0..<3 {
            let probe = Self.served(server.port, from: "127.0.0.9")
            #expect(probe != nil)
            if let probe { probes.append(probe) }
        }
        #expect(server.server.openConnections == 35)
    }

    @Test func theReserveOffMeansTheFloodFillsEverySlot() throws {
        let server = try TestServer {
            $0.maxConnections = 20
            $0.maxConnectionsPerIP = 0
            $0.reservedConnections = 0
        }
        var held: [RawHTTPConnection] = []
        for index in 0..<24 {
            if let connection = Self.served(server.port, from: "127.0.0.\(2 + index % 4)") { held.append(connection) }
        }
        #expect(held.count == 20)
        #expect(Self.served(server.port, from: "127.0.0.9") == nil)
    }

    @Test func perAddressCapStillHoldsAndTrustedProxiesAreExempt() throws {
        let server = try TestServer {
            $0.maxConnections = 64
            $0.maxConnectionsPerIP = 3
            $0.reservedConnections = 8
            $0.trustedProxies = ["127.0.0.7"]
        }
        var capped: [RawHTTPConnection] = []
        for _ in 0..<5 { if let connection = Self.served(server.port, from: "127.0.0.6") { capped.append(connection) } }
        #expect(capped.count == 3)
        var proxied: [RawHTTPConnection] = []
        for _ in 0..<10 { if let connection = Self.served(server.port, from: "127.0.0.7") { proxied.append(connection) } }
        #expect(proxied.count == 10)
    }
}
