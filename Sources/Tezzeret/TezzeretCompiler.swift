import EsperJSON
import EsperStorage
import Foundation
public import Karn
public import KernelRuntime
import Urza

// Tezzeret: the blueprint compiler and forge — turns a Karn template plus parameters into a
// checked C kernel artifact (shape, deterministic weights, autotuned variant, validation
// gates, checksummed file) and hands it to Urza; the forge compiles the whole catalog in the
// background and resumes from its write-ahead logs after a crash.
import enum Leyline.RFC3339

/// One compile to run.
public struct CompileRequest: Sendable {
    public enum Origin: String, Sendable, Codable {
        /// The forge: midpoint parameters, shape-breaking integers snapped (05 §4).
        case forge
        /// The request pipeline: parameters used exactly as given (a shape violation is an error).
        case request
    }

    public var blueprintId: String
    public var parameters: [String: Double]
    public var origin: Origin
    public var jobId: String
    public var trainingRunId: String?

    public init(
        blueprintId: String, parameters: [String: Double], origin: Origin, jobId: String = "",
        trainingRunId: String? = nil
    ) {
        self.blueprintId = blueprintId
        self.parameters = parameters
        self.origin = origin
        self.jobId = jobId
        self.trainingRunId = trainingRunId
    }
}

/// A finished compile: where the artifact is and what is in it.
public struct CompileResult: Sendable, Encodable {
    public let blueprintId: String
    public let artifactPath: String
    public let artifactSha256: String
    public let artifactBytes: Int
    public let weightsSha256: String
    public let kernel: KernelSpec
    public let requestedParameters: [String: Double]
    public let effectiveParameters: [String: Double]
    public let validation: ValidationReport
    public let autotune: AutotuneResult
    public let attempts: Int
    public let durationMs: Double
}

/// The compiler (06 §4): validate, shape, seed, initialise, autotune, gate, write the artifact
/// atomically. Thread-safe: concurrent compiles use different worker slots (and WAL files).
public final class TezzeretCompiler: Sendable {
    public static let version = "tezzeret/1"

    public let catalog: KarnCatalog
    public let options: CompileOptions
    /// `<data>/tezzeret`: artifacts/ (compiled, not yet in Urza), the compiler WALs.
    public let directory: String
    let telemetry: any BlueprintTelemetry

    public init(
        catalog: KarnCatalog, directory: String, options: CompileOptions = CompileOptions(),
        telemetry: any BlueprintTelemetry = InMemoryBlueprintTelemetry()
    ) throws {
        self.catalog = catalog
        self.directory = directory
        self.options = options
        self.telemetry = telemetry
        try AtomicFile.createDirectory(directory + "/artifacts")
        try AtomicFile.createDirectory(directory + "/wal")
    }

    public var artifactDirectory: String { directory + "/artifacts" }

    /// The compiler WAL of a worker slot (slot 0 keeps the reference file name).
    public func walPath(slot: Int) -> String {
        slot == 0 ? directory + "/tezzeret_wal.json" : directory + "/wal/compile-\(slot).json"
    }

    public func artifactPath(for blueprintId: String) -> String { artifactDirectory + "/\(blueprintId).esk" }

    /// Compiles one blueprint; up to `maxRetries + 1` attempts for retryable errors.
    public func compile(_ request: CompileRequest, slot: Int = 0) throws(CompileError) -> CompileResult {
        let id = request.blueprintId
        let started = Autotuner.monotonic()
        guard let template = catalog.template(id) else { throw CompileError(id, .notFound) }
        telemetry.event(
            "tezzeret", "compile_started", .info,
            [
                "blueprint_id": id, "origin": request.origin.rawValue,
                "training_run_id": request.trainingRunId ?? "",
            ])
        let plan: CompilePlan
        do {
            plan = try self.plan(template, request)
        } catch {
            finish(id, started: started, failedAttempts: 0, error: error)
            throw error
        }

        let walPath = walPath(slot: slot)
        var wal = CompilerWALRecord(
            jobId: request.jobId, blueprintId: id, parameters: request.parameters,
            paramsSha256: Checksum.hex(plan.paramsSHA256), attempt: 0,
            startedNs: RFC3339.nowUnixNanoseconds(), origin: request.origin.rawValue,
            trainingRunId: request.trainingRunId)
        do {
            try wal.write(to: walPath)
        } catch {
            let failure = CompileError(id, .io("compiler WAL: \(error)"))
            finish(id, started: started, failedAttempts: 1, error: failure)
            throw failure
        }
        PausePoint.reach("compile.after_wal", blueprintId: id)

        var lastError = CompileError(id, .injected)
        var forceReference = false
        for attempt in 0...max(0, options.maxRetries) {
            if attempt > 0 {
                wal.attempt = attempt
                try? wal.write(to: walPath)
            }
            do throws(CompileError) {
                if let sampler = options.errorSampler, sampler(template.descriptor) { throw CompileError(id, .injected) }
                var result = try self.attempt(template, request, plan, forceReference: forceReference, started: started)
                result = CompileResult(
                    blueprintId: result.blueprintId, artifactPath: result.artifactPath,
                    artifactSha256: result.artifactSha256, artifactBytes: result.artifactBytes,
                    weightsSha256: result.weightsSha256, kernel: result.kernel,
                    requestedParameters: result.requestedParameters,
                    effectiveParameters: result.effectiveParameters, validation: result.validation,
                    autotune: result.autotune, attempts: attempt + 1, durationMs: result.durationMs)
                AtomicFile.remove(walPath)
                finish(id, started: started, failedAttempts: attempt, error: nil, result: result)
                return result
            } catch {
                lastError = CompileError(id, error.reason, attempts: attempt + 1)
                if error.errorClass == .permanent { break }
                if case .autotuneDisqualified = error.reason { forceReference = true }
                if attempt < options.maxRetries {
                    telemetry.event(
                        "tezzeret", "compile_retry", .warning,
                        ["blueprint_id": id, "attempt": "\(attempt + 1)", "reason": error.description])
                    if error.reason != .injected {
                        let backoff = min(options.backoffCapSeconds, options.backoffBaseSeconds * pow(2, Double(attempt)))
                        Thread.sleep(forTimeInterval: backoff)
                    }
                }
            }
        }
        // The WAL stays: the next forge start recompiles this blueprint (06 §1.2).
        finish(id, started: started, failedAttempts: lastError.attempts, error: lastError)
        throw lastError
    }

    /// The synchronous checks of a compile (catalog, parameters, shape) without compiling:
    /// the request pipeline answers these errors before queueing.
    public func preflight(_ request: CompileRequest) throws(CompileError) {
        guard let template = catalog.template(request.blueprintId) else { throw CompileError(request.blueprintId, .notFound) }
        _ = try plan(template, request)
    }

    // MARK: - Steps

    struct CompilePlan {
        let validated: ValidatedRequest
        let spec: KernelSpec
        let effective: [String: Double]
        let snapped: [String: [Double]]
        let paramsSHA256: [UInt8]
        let seed: UInt64
    }

    /// Steps 1-4: validate (permanent errors), shape, seed.
    private func plan(_ template: BlueprintTemplate, _ request: CompileRequest) throws(CompileError) -> CompilePlan {
        let id = template.id
        if template.isHostShaped {
            throw CompileError(
                id,
                .shapeInvalid(
                    parameter: nil,
                    message:
                        "a \(template.family) template is shaped by the host (d_in, d_out): it is compiled at a host shape (compileHostShaped)"
                ))
        }
        let validated: ValidatedRequest
        do {
            validated = try template.validate(request.parameters)
        } catch {
            if case .invalidParameters(_, let problems) = error { throw CompileError(id, .invalidParameters(problems)) }
            throw CompileError(id, .notFound)
        }
        let built: (spec: KernelSpec, effective: [String: Double], snapped: [String: [Double]])
        do {
            switch request.origin {
            case .forge:
                built = try ShapeBuilder.forgeSpec(for: template, effective: validated.effective, width: options.seedWidth)
            case .request:
                built = (
                    try ShapeBuilder.spec(for: template, effective: validated.effective, width: options.seedWidth),
                    validated.effective, [:]
                )
            }
        } catch {
            if error.message.contains("100 MB") { throw CompileError(id, .tooLarge(error.message)) }
            throw CompileError(id, .shapeInvalid(parameter: error.parameter, message: error.message))
        }
        let paramsSHA256 = KernelSeed.paramsSHA256(built.effective)
        let seed = KernelSeed.seed(blueprintId: id, paramsSHA256: paramsSHA256, globalSeed: options.globalSeed)
        return CompilePlan(
            validated: validated, spec: built.spec, effective: built.effective, snapped: built.snapped,
            paramsSHA256: paramsSHA256, seed: seed)
    }

    /// Steps 5-9 of one attempt.
    private func attempt(
        _ template: BlueprintTemplate, _ request: CompileRequest, _ plan: CompilePlan,
        forceReference: Bool, started: Double
    ) throws(CompileError) -> CompileResult {
        let id = template.id
        let descriptor = template.descriptor
        let batch = options.batchHint
        let weights: [Float]
        do {
            weights = try plan.spec.initialParameters(seed: plan.seed)
        } catch {
            throw CompileError(id, .kernel("\(error)"))
        }
        // Every kernel call of the autotuner and the gates runs in a child process under the
        // compile's remaining time (KernelWatchdog): a kernel that never returns is killed there.
        let strategy = options.strategy
        let expectedUnsafe = descriptor.quarantineOnly
        var outcome = KernelWatchdog.Outcome<GuardedKernelCalls>.crashed("not run")
        // A child that stalls without using CPU is retried (twice): it may have inherited a lock.
        for _ in 0..<3 {
            outcome = KernelWatchdog.run(
                deadlineSeconds: max(1, options.timeoutSeconds - (Autotuner.monotonic() - started)),
                cpuLimitSeconds: options.kernelCallCPUSeconds
            ) { heartbeat -> GuardedKernelCalls in
                GuardedKernelCalls.run(
                    id: id, spec: plan.spec, weights: weights, seed: plan.seed, strategy: strategy, batch: batch,
                    forceReference: forceReference, expectedUnsafe: expectedUnsafe, progress: heartbeat)
            }
            guard case .stalled = outcome else { break }
        }
        let tuned: (KernelVariant, AutotuneResult)
        let report: ValidationReport
        switch outcome {
        case .finished(let calls):
            if let code = calls.errorCode {
                throw CompileError(id, code == "autotune_disqualified" ? .autotuneDisqualified : .kernel(calls.errorMessage ?? code))
            }
            guard let variant = calls.variant, let autotune = calls.autotune, let gates = calls.report else {
                throw CompileError(id, .kernel("the guarded kernel calls returned no verdict"))
            }
            tuned = (variant, autotune)
            report = gates
        case .timedOut(let seconds, let cpu):
            let detail =
                "no answer within \(ValidationGates.ms(seconds / 1000)) s (\(ValidationGates.ms(cpu / 1000)) s of CPU): "
                + "a kernel call did not return; its process was killed"
            tuned = GuardedKernelCalls.untuned(plan.spec, seconds: seconds)
            report = ValidationGates.watchdogReport(detail, expectedUnsafe: expectedUnsafe)
        case .crashed(let why):
            tuned = GuardedKernelCalls.untuned(plan.spec, seconds: 0)
            report = ValidationGates.watchdogReport(why, expectedUnsafe: expectedUnsafe)
        case .stalled(let seconds):
            tuned = GuardedKernelCalls.untuned(plan.spec, seconds: seconds)
            report = ValidationGates.watchdogReport(
                "a kernel call did not return and used no CPU for \(ValidationGates.ms(seconds / 1000)) s, three times (blocked)",
                expectedUnsafe: expectedUnsafe)
        }
        // A verdict of the watchdog stands as it is (its deadline is the compile's); otherwise a
        // compile that ran out of time is a retryable timeout.
        if case .finished = outcome { try checkTimeout(id, started) }
        let spec = plan.spec.with(variant: tuned.0)
        do {
            _ = try CompiledKernel(blueprintId: id, spec: spec, weights: weights, seed: plan.seed, quarantined: expectedUnsafe)
        } catch {
            throw CompileError(id, .kernel("\(error)"))
        }
        if let gate = report.failedGate {
            let detail = report.gates.first { $0.name == gate }?.detail ?? ""
            telemetry.event(
                "tezzeret", "gate_failed", report.expectedUnsafe ? .warning : .error,
                ["blueprint_id": id, "gate": gate, "detail": detail, "expected": "\(report.expectedUnsafe)"])
            if report.status == "FAILED" { throw CompileError(id, .gateFailed(gate: gate, detail: detail)) }
        }
        try checkTimeout(id, started)

        var flags: ArtifactFlags = []
        if descriptor.quarantineOnly { flags.insert(.quarantine) }
        if descriptor.approvalRequired { flags.insert(.approval) }
        if tuned.1.noisy { flags.insert(.autotuneNoisy) }
        if report.expectedUnsafe { flags.insert(.expectedUnsafe) }
        let artifact: KernelArtifact
        let bytes: [UInt8]
        do {
            let encoder = JanssonEncoder()
            var metadata: [String: JSONValue] = [
                "compiler_version": .string(TezzeretCompiler.version),
                "strategy": .string(options.strategy.rawValue),
                ArtifactMetadataKeys.descriptor: try encoder.encodeValue(descriptor),
                ArtifactMetadataKeys.requestedParameters: try encoder.encodeValue(request.parameters),
                ArtifactMetadataKeys.effectiveParameters: try encoder.encodeValue(plan.effective),
                "snapped_parameters": try encoder.encodeValue(plan.snapped),
                "autotune": try encoder.encodeValue(tuned.1),
                ArtifactMetadataKeys.validation: try encoder.encodeValue(report),
                "smoke_output_sha256": .string(report.smokeOutputSha256),
                "host": .object([
                    "cpu_features": .array(HostInfo.cpuFeatures.map { .string($0) }),
                    "cores": .int(Int64(HostInfo.cores)),
                ]),
                "origin": .string(request.origin.rawValue),
                "global_seed": .string(String(options.globalSeed)),
                "timings": .object([
                    "compile_ms": .double((Autotuner.monotonic() - started) * 1000),
                    "autotune_ms": .double(tuned.1.durationMs),
                ]),
            ]
            if let run = request.trainingRunId { metadata["training_run_id"] = .string(run) }
            artifact = KernelArtifact(
                blueprintId: id, tier: UInt8(descriptor.tier.rawValue), flags: flags, stage: UInt16(clamping: descriptor.stage),
                seed: plan.seed, paramsSHA256: plan.paramsSHA256, batchHint: UInt32(batch), spec: spec, weights: weights,
                createdUnixNs: UInt64(RFC3339.nowUnixNanoseconds()), metadata: metadata)
            bytes = try artifact.encode()
        } catch let error as ArtifactError {
            throw CompileError(id, .tooLarge(error.description))
        } catch {
            throw CompileError(id, .kernel("encoding the artifact: \(error)"))
        }
        let path = artifactPath(for: id)
        do {
            try ArtifactWriter.write(bytes, to: path, blueprintId: id)
        } catch {
            throw CompileError(id, .io("\(path): \(error)"))
        }
        telemetry.metric("tezzeret", "tezzeret.compile.autotune_ms", tuned.1.durationMs, ["blueprint_id": id])
        telemetry.metric("tezzeret", "tezzeret.artifact.bytes", Double(bytes.count), ["blueprint_id": id])
        return CompileResult(
            blueprintId: id, artifactPath: path, artifactSha256: Checksum.sha256Hex(bytes),
            artifactBytes: bytes.count, weightsSha256: artifact.weightsSHA256, kernel: spec,
            requestedParameters: request.parameters, effectiveParameters: plan.effective,
            validation: report, autotune: tuned.1, attempts: 1,
            durationMs: (Autotuner.monotonic() - started) * 1000)
    }

    private func checkTimeout(_ id: String, _ started: Double) throws(CompileError) {
        let elapsed = Autotuner.monotonic() - started
        if elapsed > options.timeoutSeconds { throw CompileError(id, .timeout(seconds: elapsed)) }
    }

    /// Telemetry of a finished compile (06 §11): duration, retry count (0 on a first-try
    /// success, which the `tezzeret_compile_retry_high` alert relies on), outcome events.
    private func finish(
        _ id: String, started: Double, failedAttempts: Int, error: CompileError?,
        result: CompileResult? = nil
    ) {
        let outcome = error == nil ? "succeeded" : "failed"
        telemetry.metric(
            "tezzeret", "tezzeret.compile.duration_ms", (Autotuner.monotonic() - started) * 1000,
            ["strategy": options.strategy.rawValue, "outcome": outcome, "blueprint_id": id])
        telemetry.metric("tezzeret", "tezzeret.compile.retry_count", Double(failedAttempts), ["blueprint_id": id])
        if let error {
            telemetry.event(
                "tezzeret", "compile_failed", .error,
                [
                    "blueprint_id": id, "reason": error.description, "class": error.errorClass.rawValue,
                    "code": error.code,
                ])
        } else if let result {
            telemetry.event(
                "tezzeret", "compile_succeeded", .info,
                [
                    "blueprint_id": id, "sha256": result.artifactSha256, "variant": result.kernel.variant.description,
                    "validation": result.validation.status,
                ])
        }
    }
}

/// Crash-safe artifact write (06 §4 step 8): `<name>.tmp`, fsync, rename, fsync the directory.
enum ArtifactWriter {
    static func write(_ bytes: [UInt8], to path: String, blueprintId: String) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXFailure("open \(temporary)") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                close(fd)
                throw POSIXFailure("write \(temporary)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            close(fd)
            throw POSIXFailure("fsync \(temporary)")
        }
        close(fd)
        PausePoint.reach("compile.mid_artifact", blueprintId: blueprintId)
        guard rename(temporary, path) == 0 else { throw POSIXFailure("rename \(temporary)") }
        let directory = (path as NSString).deletingLastPathComponent
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }
}

struct POSIXFailure: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
}
