import EsperHTTP
import EsperJSON

/// The query parameters every list endpoint shares (API.md: `?limit=` default 50, max 500,
/// opaque `cursor`), and the one 400 that reports every bad parameter at once.
struct ListQuery {
    static let defaultLimit = 50
    static let maxLimit = 500

    var limit = ListQuery.defaultLimit
    var cursor: Int64?
    var problems: [JSONFieldProblem] = []

    init() {}

    /// A `limit` in 1…`maxLimit`, or nil.
    static func limit(_ text: String) -> Int? {
        guard let value = Int(text), (1...maxLimit).contains(value) else { return nil }
        return value
    }

    /// Reads `limit` and `cursor` (after the filters, so problems come in that order).
    mutating func paginate(_ request: HTTPRequest) {
        if let text = request.query("limit") {
            if let value = ListQuery.limit(text) {
                limit = value
            } else {
                problems.append(JSONFieldProblem(field: "limit", message: "must be an integer in 1…\(ListQuery.maxLimit)"))
            }
        }
        if let text = request.query("cursor") {
            cursor = ListCursor.decodeSequence(text)
            if cursor == nil { problems.append(JSONFieldProblem(field: "cursor", message: "is not a cursor this server issued")) }
        }
    }

    /// An enum-valued filter (`?status=`, `?state=`): nil when absent, a problem when unknown.
    mutating func filter<T: RawRepresentable & CaseIterable>(_ request: HTTPRequest, _ name: String, _ type: T.Type) -> T?
    where T.RawValue == String {
        guard let text = request.query(name) else { return nil }
        guard let value = T(rawValue: text) else {
            problems.append(JSONFieldProblem(field: name, message: "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))"))
            return nil
        }
        return value
    }

    /// 400 naming every bad parameter (filters first, in the order they were read).
    func check() throws(Problem) {
        guard problems.isEmpty else {
            throw Problem(
                status: 400, detail: "invalid query: " + problems.map { "\($0.field): \($0.message)" }.joined(separator: "; "),
                errors: problems)
        }
    }
}
