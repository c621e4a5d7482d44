public import EsperHTTP
import EsperJSON
import Leyline
public import Oona

/// `GET /api/v1/oona/metrics` and `GET /api/v1/oona/streams`: what the runbook checked with
/// `metrics_snapshot()` and `redis-cli XLEN`. Both answer from memory (counters, and the
/// housekeeper's last sample of the streams), never with a Redis call on the HTTP thread.
public enum OonaRoutes {
    /// The streams report with how fresh it is.
    struct StreamsResponse: Encodable {
        var streams: [OonaStreamStats]
        var sampledAt: LeylineTimestamp
        var ageMs: Int
        /// True when the latest sampling attempt failed and these figures are older.
        var stale: Bool
        var error: String?

        enum CodingKeys: String, CodingKey { case streams, sampledAt = "sampled_at", ageMs = "age_ms", stale, error }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(streams, forKey: .streams)
            try container.encode(sampledAt, forKey: .sampledAt)
            try container.encode(ageMs, forKey: .ageMs)
            try container.encode(stale, forKey: .stale)
            if let error { try container.encode(error, forKey: .error) } else { try container.encodeNil(forKey: .error) }
        }
    }

    /// The body of `PUT /api/v1/oona/mode` (the shape of `PUT /api/v1/tamiyo/mode`).
    struct ModeRequest: Decodable {
        var conservative: Bool
        var reason: String?
    }

    public static func register(into routes: inout OperationHandlers, bus: OonaClient) {
        routes.on("getOonaMode") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(bus.mode.current)
        }
        routes.on("setOonaMode") { request in
            let body = try request.decodeJSON(ModeRequest.self)
            let reason = body.reason ?? ""
            guard reason.unicodeScalars.count <= 200, !reason.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw Problem.validation([JSONFieldProblem(field: "reason", message: "at most 200 characters, no control characters")])
            }
            do {
                return try .json(bus.setConservativeMode(body.conservative, reason: reason.isEmpty ? "operator" : reason))
            } catch {
                throw Problem.unavailable("the bus mode is kept in Redis, which cannot be written: \(error)", retryAfterSeconds: 1)
            }
        }
        routes.on("getOonaMetrics") { _ in
            try .json(bus.metricsSnapshot())
        }
        routes.on("getOonaStreams") { _ in
            guard let report = bus.streamStatistics() else {
                throw Problem.unavailable(
                    "no stream statistics yet: Redis has not answered since the server started (\(bus.health.detail))",
                    retryAfterSeconds: 1)
            }
            let age = LeylineTimestamp.now().millisecondsSinceEpoch - report.sampledAt.millisecondsSinceEpoch
            return try .json(
                StreamsResponse(
                    streams: report.streams, sampledAt: report.sampledAt, ageMs: Int(max(0, age)),
                    stale: report.error != nil, error: report.error))
        }
    }
}
