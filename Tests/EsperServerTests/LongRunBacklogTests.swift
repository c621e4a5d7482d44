import EsperServer
import EsperTestSupport
import Foundation
import Testing

/// A run of 20 000 epochs on a live server with the default thresholds: the normal stream's
/// history grows past the drop threshold (8000; the length-based reference dropped every epoch
/// after that, and rerouted from 4000), yet with the server's consumers keeping up nothing is
/// rerouted or dropped, and an SSE client sees every epoch exactly once. (Much smaller
/// thresholds are tested with a paced publisher in `BacklogTests`: on a loaded machine the
/// server's consumers fall a few hundred entries behind now and then — real backlog.)
@Suite(.serialized) struct LongRunBacklogTests {
    @Test func twentyThousandEpochsWithTheDefaultThresholdsLoseNothing() throws {
        let epochs = 20_000
        // The default thresholds (reroute 4000, drop 8000, streams trimmed to about 10 000).
        let app = try ServerHarness { $0.maxConcurrentRuns = 1 }
        let id = try app.submit(
            #"{"dataset": {"kind": "two_moons", "samples": 32}, "model": {"hidden_sizes": [4]}, "batch_size": 32, "epochs": \#(epochs), "learning_rate": 0.01, "seed": 1, "checkpoint_interval": 5000}"#
        )
        // From the start of what the bus holds, then live.
        let sse = try SSEClient(
            port: app.port, path: "/api/v1/runs/\(id)/events?types=epoch", headers: ["Last-Event-ID": "0-0,0-0,0-0"], timeoutSeconds: 120)
        var seen = Set<Int>()
        var events = 0
        let deadline = Date().addingTimeInterval(900)
        while seen.count < epochs, let message = sse.nextEvent(before: deadline) {
            guard message.event == "epoch", let epoch = message.json?["epoch"] as? Int else { continue }
            events += 1
            seen.insert(epoch)
        }
        sse.disconnect()
        #expect(seen.count == epochs, "missing epochs: \((1...epochs).filter { !seen.contains($0) }.prefix(20))")
        #expect(events == epochs, "no epoch twice")
        #expect(try app.waitFor(id, status: "succeeded", within: 120))
        let metrics = try app.object("GET", "/api/v1/oona/metrics")
        #expect(metrics["publish_rerouted"] as? Int == 0)
        #expect(metrics["publish_dropped"] as? Int == 0)
        #expect((metrics["fleet"] as? [String: Any])?["publish_dropped"] as? Int == 0)
        // The history is far above the thresholds: length is not pressure.
        #expect(((metrics["stream_length"] as? [String: Any])?["normal"] as? Int ?? 0) >= 8000)
    }
}
