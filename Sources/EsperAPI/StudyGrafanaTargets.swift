// Study curves and summaries as Grafana JSON datasource targets (tables an XY chart plots by epoch).
public import EsperJSON
public import Nissa
public import Studies

/// Targets of the Grafana datasource read from the studies:
///
/// - `study:<id>:<group>:<metric>`: a table per matching group (the group is a pattern, so a
///   multi-value or "All" variable gives every group) with columns `Epoch`, `<group> mean`,
///   `<group> -std`, `<group> +std` (mean ∓ sample std; null when n = 1) and `<group> n` — the
///   same numbers as `GET /api/v1/studies/{id}/curves`. Curves are aligned by epoch, not by
///   time, so they are tables for Grafana's XY chart (x = `Epoch`), not time series.
/// - `study:<id>`: the summary as a table, one row per group (n, final validation and test
///   accuracy, training FLOPs as mean and std, failed runs).
///
/// Variables: `studies` (study ids, newest first) and `study_groups:<id>`.
public struct StudyGrafanaTargets: GrafanaTargetProvider {
    public let service: StudyService
    /// Studies listed by `/search`, `/metrics` and the `studies` variable (newest first).
    public static let listedStudies = 100

    public init(service: StudyService) { self.service = service }

    public var variableNames: [String] { ["studies", "study_groups:<id>"] }

    func studyIds() -> [String] {
        ((try? service.list(limit: StudyGrafanaTargets.listedStudies, cursor: nil))?.items ?? []).map(\.id)
    }

    /// Group names in plan order (arms, then their controls, then fixed configs).
    func groups(_ id: String) -> [String] {
        var names: [String] = []
        for member in (try? service.store.members(id)) ?? [] where !names.contains(member.group) { names.append(member.group) }
        return names
    }

    public func variableValues(_ name: String) -> [String]? {
        if name == "studies" { return studyIds() }
        if name.hasPrefix("study_groups:") { return groups(String(name.dropFirst("study_groups:".count))) }
        return nil
    }

    public func targetNames() -> [String] {
        studyIds().flatMap { id in
            ["study:\(id)"]
                + groups(id).flatMap { group in CurveMetric.allCases.map { "study:\(id):\(group):\($0.rawValue)" } }
        }
    }

    public func frames(_ target: GrafanaPattern, refId: String) throws(GrafanaRequestError) -> [JSONValue]? {
        let parts = target.text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "study" else { return nil }
        let metrics = CurveMetric.allCases.map(\.rawValue).joined(separator: ", ")
        guard parts.count == 2 || parts.count >= 4 else {
            throw GrafanaRequestError(field: "target", message: "'\(target.text)' is not study:<id> or study:<id>:<group>:<metric>")
        }
        let id = GrafanaPattern(parts[1]).unescaped
        guard parts.count >= 4 else { return [try summaryTable(id, refId: refId)] }
        let metricName = GrafanaPattern(parts[parts.count - 1]).unescaped
        guard let metric = CurveMetric(rawValue: metricName) else {
            throw GrafanaRequestError(field: "target", message: "'\(metricName)' is not one of \(metrics)")
        }
        let group = GrafanaPattern(parts[2..<(parts.count - 1)].joined(separator: ":"))
        let curves: StudyCurves
        do {
            curves = try service.curves(id, metric: metric)
        } catch {
            throw StudyGrafanaTargets.requestError(error, id: id)
        }
        return curves.groups.filter { group.matches($0.name) }.map { curve in
            StudyGrafanaTargets.table(
                refId: refId,
                columns: [
                    ("Epoch", "number"), ("\(curve.name) mean", "number"), ("\(curve.name) -std", "number"),
                    ("\(curve.name) +std", "number"), ("\(curve.name) n", "number"),
                ],
                rows: curve.points.map { point in
                    [
                        .int(Int64(point.epoch)), .double(point.mean), point.std.map { .double(point.mean - $0) } ?? .null,
                        point.std.map { .double(point.mean + $0) } ?? .null, .int(Int64(point.n)),
                    ]
                })
        }
    }

    func summaryTable(_ id: String, refId: String) throws(GrafanaRequestError) -> JSONValue {
        let summary: StudySummary
        do {
            summary = try service.summary(id)
        } catch {
            throw StudyGrafanaTargets.requestError(error, id: id)
        }
        func number(_ value: Double?) -> JSONValue { value.map { .double($0) } ?? .null }
        return StudyGrafanaTargets.table(
            refId: refId,
            columns: [
                ("Group", "string"), ("Kind", "string"), ("n", "number"), ("Planned", "number"),
                ("Final validation accuracy", "number"), ("± std", "number"), ("Final test accuracy", "number"),
                ("± std (test)", "number"), ("Training FLOPs", "number"), ("± std (FLOPs)", "number"), ("Failed", "number"),
            ],
            rows: summary.groups.map { group in
                let s = group.statistics
                return [
                    .string(group.name), .string(group.kind.rawValue), .int(Int64(s.finalValidationAccuracy.n)),
                    .int(Int64(group.planned)), number(s.finalValidationAccuracy.mean), number(s.finalValidationAccuracy.std),
                    number(s.finalTestAccuracy.mean), number(s.finalTestAccuracy.std), number(s.trainingFlops.mean),
                    number(s.trainingFlops.std), .int(Int64(group.failed.count)),
                ]
            })
    }

    static func table(refId: String, columns: [(String, String)], rows: [[JSONValue]]) -> JSONValue {
        .object([
            "type": "table", "refId": .string(refId),
            "columns": .array(columns.map { .object(["text": .string($0.0), "type": .string($0.1)]) }),
            "rows": .array(rows.map { .array($0) }),
        ])
    }

    static func requestError(_ error: any Error, id: String) -> GrafanaRequestError {
        if case StudyError.notFound = error { return GrafanaRequestError(field: "target", message: "no study '\(id)'") }
        return GrafanaRequestError(field: "target", message: "study '\(id)' could not be read: \(error)")
    }
}
