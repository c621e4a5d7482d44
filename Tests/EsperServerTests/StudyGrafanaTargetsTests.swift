// Study curves and summaries through the Grafana JSON datasource, in the requests simpod's plugin sends.
import EsperServer
import EsperTestSupport
import Foundation
import Testing

/// A tiny study, then the plugin's requests (src/DataSource.ts of 0.6.x: `/variable` with
/// `payload.target`, `/search`, `/metrics`, `/query` with targets whose variables are
/// interpolated in Grafana's regex format): every number equals the study's own curves and
/// summary over REST.
@Suite(.serialized) struct StudyGrafanaTargetsTests {
    /// Grafana's regex format for one value (`-`, `.`, `/` escaped).
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            if "\\^$*+?.()|[]{}/-".contains(character) { out += "\\\\" }
            out.append(character)
        }
        return out
    }

    @Test func studyCurvesAndSummaryAreGrafanaTargets() throws {
        let server = try ServerHarness()
        let study = try server.createStudy(
            #"{"name": "grafana", "base": {"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 3, "learning_rate": 0.01}, "#
                + #""arms": [{"name": "a"}], "seeds": [1, 2], "fixed": [{"name": "wide-64", "overrides": {"model": {"hidden_sizes": [64]}}}]}"#
        )
        let id = try #require(study["id"] as? String)
        let done = try server.waitForStudy(id, within: 120) { $0["status"] as? String == "completed" }
        #expect((done["progress"] as? [String: Any])?["succeeded"] as? Int == 4)

        // Variables: the study ids, and a study's groups.
        var (status, body) = try NissaServerTests.post(server, "/grafana/variable", #"{"payload":{"target":"studies"}}"#)
        #expect(status == 200 && (body as? [[String: Any]])?.contains { $0["__value"] as? String == id } == true)
        (status, body) = try NissaServerTests.post(server, "/grafana/variable", #"{"payload":{"target":"study_groups:\#(id)"}}"#)
        #expect((body as? [[String: Any]])?.map { $0["__text"] as? String } == ["a", "wide-64"])
        (status, body) = try NissaServerTests.post(server, "/grafana/variable", #"{"payload":{"target":"weather"}}"#)
        #expect(status == 422 && ((body as? [String: Any])?["message"] as? String)?.contains("studies") == true)

        // Listed by /search and /metrics.
        (status, body) = try NissaServerTests.post(server, "/grafana/search", #"{"target":""}"#)
        let listed = body as? [String] ?? []
        #expect(listed.contains("study:\(id)") && listed.contains("study:\(id):wide-64:validation_loss"))
        #expect(listed.filter { $0.hasPrefix("study:\(id):") }.count == 2 * 4, "2 groups × 4 metrics")
        (status, body) = try NissaServerTests.post(server, "/grafana/metrics", #"{"metric":"","payload":{}}"#)
        #expect((body as? [[String: Any]])?.contains { $0["value"] as? String == "study:\(id):a:train_loss" } == true)

        // The curves: one table per group ("All" as `.*`), equal to GET .../curves.
        let curves = try server.object("GET", "/api/v1/studies/\(id)/curves?metric=validation_loss")
        let expected = try #require(curves["groups"] as? [[String: Any]])
        let target = "study:\(Self.escaped(id)):.*:validation_loss"
        var answer: [[String: Any]]
        (status, answer) = try GrafanaDatasourceTests.query(server, #"[{"target":"\#(target)","refId":"S","payload":{}}]"#)
        #expect(status == 200 && answer.count == 2)
        for (table, group) in zip(answer, expected) {
            let name = try #require(group["name"] as? String)
            #expect(table["type"] as? String == "table" && table["refId"] as? String == "S")
            let columns = (table["columns"] as? [[String: Any]])?.compactMap { $0["text"] as? String }
            #expect(columns == ["Epoch", "\(name) mean", "\(name) -std", "\(name) +std", "\(name) n"])
            let rows = try #require(table["rows"] as? [[Any]])
            let points = try #require(group["points"] as? [[String: Any]])
            #expect(rows.count == 3 && points.count == 3)
            for (row, point) in zip(rows, points) {
                let mean = try #require(point["mean"] as? Double), std = try #require(point["std"] as? Double)
                #expect(row[0] as? Int == point["epoch"] as? Int && row[4] as? Int == 2)
                #expect(row[1] as? Double == mean)
                #expect(abs((row[2] as? Double ?? .nan) - (mean - std)) < 1e-12)
                #expect(abs((row[3] as? Double ?? .nan) - (mean + std)) < 1e-12)
            }
        }
        // A multi-value group variable `(a|wide\-64)`, and one group escaped as the plugin does.
        (status, answer) = try GrafanaDatasourceTests.query(
            server, #"[{"target":"study:\#(Self.escaped(id)):(a|wide\\-64):train_loss","refId":"M"}]"#)
        #expect(answer.count == 2)
        (status, answer) = try GrafanaDatasourceTests.query(
            server, #"[{"target":"study:\#(id):\#(Self.escaped("wide-64")):train_accuracy","refId":"W"}]"#)
        #expect((answer.first?["columns"] as? [[String: Any]])?[1]["text"] as? String == "wide-64 mean" && answer.count == 1)

        // The summary table: a row per group, equal to GET /api/v1/studies/{id}.
        (status, answer) = try GrafanaDatasourceTests.query(server, #"[{"target":"study:\#(Self.escaped(id))","refId":"T"}]"#)
        let summaryRows = try #require(answer.first?["rows"] as? [[Any]])
        let groups = try #require(done["groups"] as? [[String: Any]])
        #expect(summaryRows.map { $0[0] as? String } == ["a", "wide-64"])
        for (row, group) in zip(summaryRows, groups) {
            let statistics = try #require(group["statistics"] as? [String: Any])
            let accuracy = try #require(statistics["final_validation_accuracy"] as? [String: Any])
            let flops = try #require(statistics["training_flops"] as? [String: Any])
            #expect(row[2] as? Int == 2 && row[3] as? Int == 2 && row[10] as? Int == 0)
            #expect(row[4] as? Double == accuracy["mean"] as? Double && row[5] as? Double == accuracy["std"] as? Double)
            #expect(row[6] is NSNull, "two_moons has no test split")
            #expect(row[8] as? Double == flops["mean"] as? Double && (row[8] as? Double ?? 0) > 0)
        }

        // The shipped dashboard's study variables and panels, interpolated as Grafana does.
        let data = try Data(contentsOf: URL(fileURLWithPath: packageRoot() + "/infra/grafana/dashboards/nissa-overview.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let variables = try #require((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]])
        let groupQuery = try #require(
            (variables.first { $0["name"] as? String == "study_group" }?["query"] as? [String: Any])?["query"] as? String)
        (status, body) = try NissaServerTests.post(
            server, "/grafana/variable",
            #"{"payload":{"target":"\#(groupQuery.replacingOccurrences(of: "$study", with: Self.escaped(id)))"}}"#)
        #expect(status == 200 && (body as? [[String: Any]])?.count == 2)
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let studyTargets = panels.flatMap { ($0["targets"] as? [[String: Any]]) ?? [] }.compactMap { $0["target"] as? String }
            .filter { $0.contains("$study") }
        #expect(studyTargets.count == 2, "the curves and the summary panel")
        for groups in [".*", "(a|wide\\\\-64)"] {
            let targets = studyTargets.enumerated().map { index, target in
                let text = target.replacingOccurrences(of: "$study_group", with: groups)
                    .replacingOccurrences(of: "$study_metric", with: "validation_accuracy")
                    .replacingOccurrences(of: "$study", with: Self.escaped(id))
                return #"{"target":"\#(text)","refId":"P\#(index)"}"#
            }
            (status, answer) = try GrafanaDatasourceTests.query(server, "[\(targets.joined(separator: ","))]")
            #expect(status == 200 && answer.count == 3 && answer.allSatisfy { $0["type"] as? String == "table" }, "\(groups)")
        }

        // Unknown metric or study: 422 naming the target, with the message Grafana shows.
        (status, body) = try NissaServerTests.post(
            server, "/grafana/query", #"{"range":\#(GrafanaDatasourceTests.range()),"targets":[{"target":"study:\#(id):a:weather"}]}"#)
        #expect(status == 422 && ((body as? [String: Any])?["message"] as? String)?.contains("validation_loss") == true)
        let unknown = UUID().uuidString.lowercased()
        (status, body) = try NissaServerTests.post(
            server, "/grafana/query",
            #"{"range":\#(GrafanaDatasourceTests.range()),"targets":[{"target":"study:\#(unknown):a:train_loss"}]}"#)
        #expect(status == 422 && ((body as? [String: Any])?["message"] as? String)?.contains("no study") == true)
        (status, _) = try NissaServerTests.post(
            server, "/grafana/query", #"{"range":\#(GrafanaDatasourceTests.range()),"targets":[{"target":"study:\#(id):a"}]}"#)
        #expect(status == 422)
    }
}
