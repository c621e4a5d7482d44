// Targets the Grafana datasource answers from outside Nissa's memory (study curves, served by EsperAPI).
public import EsperJSON

/// A source of Grafana targets besides Nissa's time series and tables: it lists its target
/// names (for `/search` and `/metrics`), may answer variable queries, and answers `/query`
/// for the targets it owns with whole frames (time series or tables, as the plugin reads them).
public protocol GrafanaTargetProvider: Sendable {
    /// Every target it answers now (listed by `/search` and `/metrics`).
    func targetNames() -> [String]
    /// The values of a variable query it answers (`studies`), nil for names it does not know.
    func variableValues(_ name: String) -> [String]?
    /// The variable names it answers (for error messages).
    var variableNames: [String] { get }
    /// The frames of `target`, each with `refId`; nil when the target is not one of its.
    func frames(_ target: GrafanaPattern, refId: String) throws(GrafanaRequestError) -> [JSONValue]?
}
