import Testing

@testable import EsperHTTP

@Suite struct RouterTests {
    func router() -> Router {
        var router = Router()
        let ok: HTTPHandler = { _ in HTTPResponse(status: 200) }
        router.add("GET", "/api/v1/runs", ok)
        router.add("POST", "/api/v1/runs", ok)
        router.add("GET", "/api/v1/runs/{id}", ok)
        router.add("POST", "/api/v1/runs/{id}/pause", ok)
        router.add("GET", "/api/v1/runs/{id}/seeds/{seed_id}", ok)
        return router
    }

    @Test func matchesStaticAndParameterisedPaths() {
        let router = router()
        guard case .found(let route, let parameters) = router.match(method: "GET", path: "/api/v1/runs/run-7/seeds/s1") else {
            Issue.record("no match")
            return
        }
        #expect(route.pattern == "/api/v1/runs/{id}/seeds/{seed_id}")
        #expect(parameters == ["id": "run-7", "seed_id": "s1"])
        if case .found(let route, _) = router.match(method: "POST", path: "/api/v1/runs/") {
            #expect(route.pattern == "/api/v1/runs")
        } else {
            Issue.record("trailing slash should match")
        }
    }

    @Test func wrongMethodListsAllowed() {
        guard case .methodNotAllowed(let allowed) = router().match(method: "DELETE", path: "/api/v1/runs") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == ["GET", "HEAD", "POST"])
        guard case .methodNotAllowed(let allowedPause) = router().match(method: "GET", path: "/api/v1/runs/x/pause") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowedPause == ["POST"])
    }

    @Test func unknownPathsAndEmptyParametersAreNotFound() {
        let router = router()
        if case .notFound = router.match(method: "GET", path: "/api/v1/nothing") {} else { Issue.record("expected 404") }
        if case .notFound = router.match(method: "GET", path: "/api/v1/runs/x/seeds/") {} else { Issue.record("expected 404") }
        if case .found = router.match(method: "HEAD", path: "/api/v1/runs") {} else { Issue.record("HEAD should use GET") }
    }
}
