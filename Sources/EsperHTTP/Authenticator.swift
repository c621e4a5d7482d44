/// Bearer-token protection: with a token configured, every mutating route (and, when
/// `protectReads` is on, every read except public ones) needs `Authorization: Bearer
/// <token>`. No or malformed credentials → 401 with `WWW-Authenticate`; a wrong token → 403.
/// Tokens are compared in constant time and never logged.
public struct Authenticator: Sendable {
    let token: [UInt8]?
    let protectReads: Bool

    public init(token: String?, protectReads: Bool) {
        self.token = token.map { Array($0.utf8) }
        self.protectReads = protectReads
    }

    func check(_ route: Router.Route, authorization: String?) -> Problem? {
        guard let token, !route.isPublic, route.isMutating || protectReads else { return nil }
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else {
            return Problem(
                status: 401, detail: "this endpoint needs an API token: send Authorization: Bearer <token>",
                headers: ["WWW-Authenticate": "Bearer realm=\"esper\""])
        }
        let presented = Array(String(authorization.dropFirst(7)).trimming(" ").utf8)
        guard Authenticator.constantTimeEqual(presented, token) else {
            return Problem(status: 403, detail: "the API token is not valid for this server")
        }
        return nil
    }

    /// Compares every byte of the longer input whatever differs first, so the time taken
    /// does not tell an attacker how much of a guess was right.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}

extension String {
    func trimming(_ character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
