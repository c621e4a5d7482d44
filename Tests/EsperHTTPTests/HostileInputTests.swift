import EsperHTTP
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

import EsperJSON

enum JSONFieldProblemFixture {
    static func make(_ field: String) -> JSONFieldProblem { JSONFieldProblem(field: field, message: "bad") }
}
