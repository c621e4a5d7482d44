public import EsperHTTP
import EsperJSON
import EsperStorage
import Foundation
public import Karn
public import Urza

/// `/api/v1/urza`: the stored blueprints, their artifact files, and the integrity scan.
public enum UrzaRoutes {
    /// Largest artifact `PUT /api/v1/urza/artifacts/{id}` takes (the server's body limit may
    /// be lower: `ESPER_MAX_BODY_BYTES`).
    public static let maxUploadBytes = 16 << 20

    public static func register(into routes: inout OperationHandlers, urza: UrzaLibrary, catalog: KarnCatalog) {
        registerUpload(into: &routes, urza: urza, catalog: catalog)
        routes.on("listUrzaBlueprints") { request in
            try BlueprintAPI.checkQuery(request, allowed: ["tier", "stage", "quarantined", "state", "limit", "cursor"])
            let tier = try BlueprintAPI.tier(request)
            let stage = try BlueprintAPI.stage(request)
            let quarantined = try BlueprintAPI.boolean(request, "quarantined")
            var state: ArtifactState?
            if let text = request.query("state") {
                guard let parsed = ArtifactState(rawValue: text.uppercased()) else {
                    throw Problem.validation([
                        JSONFieldProblem(field: "state", message: "'\(text)' is not one of AVAILABLE, MISSING, CORRUPT, DEPRECATED")
                    ])
                }
                state = parsed
            }
            let limit = try BlueprintAPI.limit(request)
            let after = try BlueprintAPI.cursor(request)
            let records = try storage { () throws(UrzaError) in
                try urza.list(tier: tier, stage: stage, quarantined: quarantined, state: state, after: after, limit: limit + 1)
            }
            return try .json(BlueprintAPI.page(records, limit: limit, id: \.blueprintId))
        }

        routes.on("getUrzaBlueprint") { request in
            let id = try BlueprintAPI.urzaId(request)
            guard let record = urza.get(id) else { throw BlueprintAPI.notFound("blueprint \(id) is not in the library") }
            return try .json(record)
        }

        // Binary download for remote workers: verified against the catalog's SHA-256 before a
        // byte is sent, with the hash in `X-Esper-SHA256` and `Digest` for the receiver.
        routes.on("getUrzaArtifact") { request in
            try BlueprintAPI.checkQuery(request, allowed: ["allow_quarantine"])
            let key = request.pathParameter("id")
            guard BlueprintID.isValid(key) || HostShape.parse(artifactId: key) != nil || BlueprintAPI.isArtifactHash(key) else {
                throw Problem(
                    status: 400, type: "/problems/invalid-id",
                    detail:
                        "'\(key)' is neither a blueprint id (BP001), a host-shaped artifact id (BP052-i64-o10) nor an artifact SHA-256 (64 lower-case hex digits)"
                )
            }
            let allowQuarantine = try BlueprintAPI.boolean(request, "allow_quarantine") ?? false
            let file: (bytes: [UInt8], record: UrzaRecord)
            do throws(UrzaError) {
                file = try urza.artifactFile(key, allowQuarantine: allowQuarantine)
            } catch {
                throw problem(error)
            }
            let sha = file.record.artifactSHA256
            let digest = Data(file.bytes.isEmpty ? [] : Array(hexBytes(sha))).base64EncodedString()
            return HTTPResponse(
                status: 200,
                headers: [
                    ("Content-Type", "application/octet-stream"),
                    ("X-Esper-SHA256", sha),
                    ("Digest", "sha-256=\(digest)"),
                    ("ETag", "\"\(sha)\""),
                    ("Content-Disposition", "attachment; filename=\"\(file.record.blueprintId).esk\""),
                ], body: file.bytes)
        }

        routes.on("verifyUrzaArtifacts") { request in
            if !request.body.isEmpty { _ = try request.decodeJSON(EmptyBody.self) }
            return try .json(urza.verifyAll())
        }
    }

    /// A body that, when present, must be `{}`. Opens a keyed container on purpose: the
    /// synthesized decoder of a struct without fields opens none, and then unknown keys (and
    /// arrays, numbers) passed unseen — found by schemathesis.
    struct EmptyBody: Decodable {
        struct NoKeys: CodingKey {
            var stringValue: String { "" }
            var intValue: Int? { nil }
            init?(stringValue: String) { nil }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            _ = try decoder.container(keyedBy: NoKeys.self)
        }
    }

    static func storage<T>(_ body: () throws(UrzaError) -> T) throws(Problem) -> T {
        do { return try body() } catch { throw problem(error) }
    }

    /// `PUT /api/v1/urza/artifacts/{id}`: an artifact compiled elsewhere (a compile job on an
    /// `esper worker`) stored as the blueprint's current one. The body's SHA-256 must equal
    /// `X-Esper-SHA256` (else 422, nothing stored); the blueprint must be in Karn's catalog
    /// (else 404); the artifact must decode and be compiled for that blueprint (422) — Urza
    /// verifies it completely before it replaces anything. Idempotent: the artifact already
    /// in force answers 200 and changes nothing; a new one 201.
    static func registerUpload(into routes: inout OperationHandlers, urza: UrzaLibrary, catalog: KarnCatalog) {
        routes.on("putUrzaArtifact") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let id = try BlueprintAPI.urzaId(request)
            // A host-shaped artifact is stored under its own id with its template's descriptor.
            let templateId = HostShape.parse(artifactId: id)?.templateId ?? id
            guard var descriptor = catalog.template(templateId)?.descriptor else {
                throw BlueprintAPI.notFound("blueprint \(templateId) is not in the catalog")
            }
            descriptor.blueprintId = id
            guard let claimed = request.header("X-Esper-SHA256")?.lowercased(), BlueprintAPI.isArtifactHash(claimed) else {
                throw Problem(
                    status: 400, detail: "X-Esper-SHA256 must carry the body's SHA-256 (64 hex digits)",
                    errors: [JSONFieldProblem(field: "X-Esper-SHA256", message: "required: 64 hex digits")])
            }
            let body = request.body
            guard !body.isEmpty else { throw Problem(status: 422, detail: "the body holds no artifact") }
            guard body.count <= maxUploadBytes else {
                throw Problem(status: 413, detail: "the artifact has \(body.count) bytes; the limit is \(maxUploadBytes)")
            }
            let actual = Checksum.sha256Hex(body)
            guard actual == claimed else {
                throw Problem(status: 422, detail: "checksum mismatch: the body's SHA-256 is \(actual), X-Esper-SHA256 says \(claimed)")
            }
            if let current = urza.get(id), current.artifactSHA256 == actual, urza.hasValidArtifact(id) {
                return try .json(current)
            }
            let staging = urza.configuration.root + "/uploads/" + UUID().uuidString.lowercased() + ".esk"
            defer { AtomicFile.remove(staging) }
            do { try AtomicFile.write(body, to: staging) } catch { throw Problem.unavailable("cannot stage the upload: \(error)") }
            let record: UrzaRecord
            do throws(UrzaError) {
                record = try urza.save(descriptor: descriptor, artifactPath: staging)
            } catch {
                throw problem(error)
            }
            return try .json(record, status: 201)
        }
    }

    static func problem(_ error: UrzaError) -> Problem {
        switch error {
        case .notFound: BlueprintAPI.notFound(error.description)
        case .quarantined:
            Problem(
                status: 403, type: "/problems/quarantined", detail: error.description + "; pass allow_quarantine=true for adversarial runs")
        case .unavailable, .integrity: Problem(status: 409, type: "/problems/artifact-unavailable", detail: error.description)
        case .invalidId: Problem(status: 400, type: "/problems/invalid-id", detail: error.description)
        case .incompatibleShape, .invalidArtifact: Problem(status: 422, detail: error.description)
        case .timeout, .storage: Problem.unavailable(error.description)
        }
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        func nibble(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c - 48 }
        while let high = iterator.next(), let low = iterator.next() { bytes.append(nibble(high) << 4 | nibble(low)) }
        return bytes
    }
}
