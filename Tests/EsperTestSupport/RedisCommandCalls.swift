import Oona

/// How many times the Redis server `client` talks to has run `command` (lower case, as
/// `INFO commandstats` names it) — on a private server, what a test's own code did.
public func redisCommandCalls(_ command: String, on client: OonaClient) throws -> Int {
    let info = try client.execute([["INFO", "commandstats"]])[0].text ?? ""
    let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_\(command):") } ?? ""
    return line.split(separator: ",").first.flatMap { Int($0.split(separator: "=").last ?? "") } ?? 0
}
