import EsperTestSupport
import Foundation
import Testing

/// Depth seeds over REST: a conv host (`model.layers`) takes a policy and `seeds` naming the
/// depth blueprint and its conv slots; a depth blueprint for a host without conv layers, or a
/// conv slot the host lacks, is a 422 naming the entry.
@Suite(.serialized) struct ConvInsertRoutesTests {
    static let convHost = #"""
        {"dataset": {"kind": "mnist1d"}, "model": {"layers": [
          {"kind": "conv1d", "channels": 4, "kernel_size": 5, "stride": 2, "padding": 1},
          {"kind": "conv1d", "channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
          {"kind": "flatten"}]}, "epochs": 2, "learning_rate": 0.003, "batch_size": 200
        """#

    @Test func aConvHostRunNamingTheDepthBlueprintRunsAndMisfitsAreNamed() throws {
        let server = try ServerHarness(environment: ServerHarness.controlEnvironment)
        try server.compile([("BP008", "{}")])
        let accepted = try server.submit(
            ConvInsertRoutesTests.convHost
                + #", "policy": "heuristic", "seeds": {"blueprints": ["conv-insert-3"], "slots": ["conv-slot-0", "conv-slot-1"]}}"#)
        #expect(try server.waitFor(accepted, status: "succeeded"))

        func problems(_ json: String) throws -> [String] {
            let response = try server.request("POST", "/api/v1/runs", json: json)
            #expect(response.status == 422, "\(response.text)")
            return (try RawHTTP.json(response)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
        }
        // An MLP host has no conv layer to grow after.
        #expect(
            try problems(
                #"{"dataset": {"kind": "mnist1d"}, "model": {"hidden_sizes": [16]}, "epochs": 2, "learning_rate": 0.01, "policy": "heuristic", "seeds": {"blueprints": ["widen-8", "conv-insert-3"]}}"#
            ) == ["seeds.blueprints[1]"])
        // The conv host has conv-slot-0 and conv-slot-1 only.
        #expect(
            try problems(ConvInsertRoutesTests.convHost + #", "policy": "heuristic", "seeds": {"slots": ["conv-slot-2"]}}"#)
                == ["seeds.slots[0]"])
    }
}
