import EsperTestSupport
import Foundation
import Testing

/// A server and an `esper worker` process on one real redis-server: the worker's Oona
/// counters reach the server's `/api/v1/oona/metrics` and `/metrics`, and the bus'
/// conservative mode, switched over REST, reaches the worker (which then sheds telemetry
/// detail, never the run's records).
@Suite(.serialized) struct WorkerBusCountersTests {
    @Test func aWorkersCountersAreVisibleOnTheServerAndItFollowsConservativeMode() throws {
        let cluster = try WorkerProcessTests.Cluster(environment: WorkerProcessTests.busSettings)
        let worker = try cluster.worker(WorkerProcessTests.busSettings)
        let port = cluster.server.port
        func metrics() throws -> [String: Any] { try RawHTTP.json(RawHTTP.request(port: port, path: "/api/v1/oona/metrics")) }
        func publisher(_ id: String) throws -> [String: Any]? {
            (try metrics()["publishers"] as? [[String: Any]])?.first { $0["id"] as? String == id }?["counters"] as? [String: Any]
        }
        var workerId = ""
        #expect(
            try eventually(within: WorkerProcessTests.step) {
                workerId = try cluster.workers().first?["id"] as? String ?? ""
                return !workerId.isEmpty
            })

        // Conservative mode on, over REST; the answer has Tamiyo's shape.
        let put = try RawHTTP.request(
            port: port, method: "PUT", path: "/api/v1/oona/mode", headers: ["Content-Type": "application/json"],
            body: Array(#"{"conservative": true, "reason": "runbook 6.1"}"#.utf8))
        #expect(put.status == 200)
        let mode = try RawHTTP.json(put)
        #expect(
            mode["conservative"] as? Bool == true && mode["source"] as? String == "manual" && mode["reason"] as? String == "runbook 6.1")
        #expect(try RawHTTP.json(RawHTTP.request(port: port, path: "/api/v1/oona/mode"))["conservative"] as? Bool == true)
        // Bad input is refused, and changes nothing.
        for body in [#"{"conservative": "yes"}"#, #"{"reason": "x"}"#, #"{"conservative": true, "extra": 1}"#, "not json"] {
            let refused = try RawHTTP.request(
                port: port, method: "PUT", path: "/api/v1/oona/mode", headers: ["Content-Type": "application/json"], body: Array(body.utf8))
            #expect([400, 422].contains(refused.status), "\(body): \(refused.status)")
        }
        #expect(try RawHTTP.request(port: port, path: "/api/v1/oona/mode?x=1").status == 400)

        // The worker reads the mode once a second: wait until it says it follows (a short run
        // can otherwise finish before it knows).
        #expect(
            eventually(within: WorkerProcessTests.step) { worker.log.contains("oona conservative mode on") }, "\(worker.log.suffix(2000))")
        // A run on the worker: every epoch reaches the server (records are never shed); the
        // worker sheds telemetry detail and says so.
        let epochs = 40
        let id = try cluster.submit(WorkerProcessTests.config(seed: 5, epochs: epochs))
        #expect(try eventually(within: 300) { try cluster.run(id)["status"] as? String == "succeeded" })
        #expect(
            try eventually(within: WorkerProcessTests.step) {
                let counters = try publisher(workerId)
                return (counters?["publish_total"] as? Int ?? 0) >= epochs && (counters?["publish_shed"] as? Int ?? 0) >= epochs / 2
            }, "\(worker.log.suffix(2000))")
        let counters = try #require(try publisher(workerId))
        #expect(counters["publish_dropped"] as? Int == 0 && counters["publish_rerouted"] as? Int == 0)
        let all = try metrics()
        let fleet = try #require(all["fleet"] as? [String: Any])
        #expect((fleet["publish_total"] as? Int ?? 0) >= (counters["publish_total"] as? Int ?? 0))
        #expect((fleet["publish_shed"] as? Int ?? 0) >= (counters["publish_shed"] as? Int ?? 0))
        let prometheus = try RawHTTP.request(port: port, path: "/metrics").text
        #expect(prometheus.contains("esper_oona_publisher_publish{publisher=\"\(workerId)\"}"))
        #expect(prometheus.contains("esper_oona_fleet_publish_shed "))
        #expect(prometheus.contains("esper_oona_conservative_mode 1.0"))

        // Off again: the worker follows within a second and sheds nothing more.
        let off = try RawHTTP.request(
            port: port, method: "PUT", path: "/api/v1/oona/mode", headers: ["Content-Type": "application/json"],
            body: Array(#"{"conservative": false}"#.utf8))
        #expect(off.status == 200)
        #expect(try RawHTTP.json(off)["reason"] as? String == "operator")
        #expect(
            eventually(within: WorkerProcessTests.step) { worker.log.contains("oona conservative mode off") }, "\(worker.log.suffix(2000))")
        Thread.sleep(forTimeInterval: 2)
        let shedBefore = try publisher(workerId)?["publish_shed"] as? Int ?? -1
        let second = try cluster.submit(WorkerProcessTests.config(seed: 6, epochs: 10))
        #expect(try eventually(within: 300) { try cluster.run(second)["status"] as? String == "succeeded" })
        Thread.sleep(forTimeInterval: 2)
        #expect(try publisher(workerId)?["publish_shed"] as? Int == shedBefore)
    }
}
