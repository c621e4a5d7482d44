public import EsperEvents
public import EsperHTTP
import Foundation
public import Logging
public import Nissa
public import Oona

/// A configuration value that cannot be used: the server prints `description` as its one
/// line of output and exits with status 2.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let variable: String
    public let message: String
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }
    public var description: String { "invalid configuration: \(variable): \(message)" }
}

/// Every setting of `esper serve`, resolved from (highest first) command-line flags, the
/// process environment, a `.env` file in the working directory, and defaults — then
/// validated as a whole before anything starts.
public struct Configuration: Sendable {
    public var http = HTTPServerConfiguration()
    public var dataDirectory = "var"
    /// Nil: run a managed `redis-server` inside the data directory.
    public var redisURL: RedisEndpoint?
    public var redisServerExecutable = "redis-server"
    public var redisConfigFile: String?
    public var streams = StreamNames()
    /// HMAC key for bus messages; nil when signing is off.
    public var leylineSecret: String?
    /// Earlier keys still accepted when verifying (rotation); never used to sign.
    public var leylinePreviousSecrets: [String] = []
    /// Oona backpressure, retention, retry and breaker numbers (`OONA_*`).
    public var oonaLimits = OonaLimits()
    public var logLevel: Logger.Level = .info
    /// Bearer token for mutating endpoints (and reads when `protectReads`); nil: open.
    public var apiToken: String?
    public var protectReads = false
    /// Training runs executing at once (more wait in the queue); default one per core.
    public var maxConcurrentRuns = 1
    /// GEMM (and large Adam sweep) threads per call, process-wide; 1 keeps concurrent runs from
    /// oversubscribing cores.
    public var blasThreads = 1
    /// Seconds between storage write checks (`ESPER_STORAGE_CHECK_S`).
    public var storageCheckSeconds = 5.0
    /// Seconds between SQLite integrity checks (`ESPER_INTEGRITY_CHECK_S`).
    public var integrityCheckSeconds = 3600.0
    /// Root of the CSV/IDX files a run config may name; default `<data>/datasets`.
    public var datasetsDirectory: String?
    /// `esper serve` trains with `maxConcurrentRuns` in-process worker slots; off: a pure
    /// control plane (`esper worker` processes do the training).
    public var localWorkers = true
    /// With `localWorkers` off: whether the server keeps one slot for compile jobs (on), or
    /// leaves them to `esper worker` processes, which upload their artifacts (off).
    public var localCompiles = true
    /// Where workers keep run checkpoints (`<dir>/<run id>/checkpoints`); every worker that
    /// may resume a run must see the same directory. Default `<data>/tolaria/runs`.
    public var checkpointDirectory: String?
    /// Runs one study may create at most (`ESPER_STUDY_MAX_RUNS`).
    public var studyMaxRuns = 200
    /// Finished runs' outcomes and curve samples the study service keeps (not env-tunable: the
    /// defaults bound the memory; tests set them low to drive the caches past their limits).
    public var studyKeptOutcomes = 10_000
    public var studyKeptCurveSamples = 1_000_000
    /// The server an `esper worker` belongs to (its base URL).
    public var serverURL: String?
    /// Nissa: rules, ring buffers, receivers, SLOs (`NISSA_*`).
    public var nissa = NissaOptions()
    /// The rules file loaded (nil: the built-in rules).
    public var nissaRulesFile: String?
    /// The blueprint pipeline (Karn, Tezzeret, Urza).
    public var blueprints = BlueprintSettings()
    /// The control loop (Tamiyo, Kasmina).
    public var control = ControlSettings()
    /// Server-Sent Events: subscribers, heartbeat, per-client buffer (`ESPER_SSE_*`).
    public var events = EventHubOptions()

    public init() {}

    /// Settings of the blueprint pipeline (`ESPER_FORGE_*`, `ESPER_SEED_WIDTH`, ...).
    public struct BlueprintSettings: Sendable, Equatable {
        /// Compile every missing catalog entry in the background when the server starts.
        public var forgeAtStart = true
        /// Concurrent compiles (06 §12: 1 by default, at most 2).
        public var forgeWorkers = 1
        /// Attempts per compile = maxRetries + 1.
        public var maxRetries = 1
        /// Width d of the host's seed slots; every kernel is compiled for it.
        public var seedWidth = 64
        /// Autotune effort: emergency, fast, standard or aggressive.
        public var compileStrategy = "standard"
        /// Byte budget of Urza's decoded-kernel cache.
        public var kernelCacheMegabytes = 1024
        public init() {}
    }

    /// Settings of the control loop (`TAMIYO_*`, `KASMINA_*`).
    public struct ControlSettings: Sendable, Equatable {
        /// Conservative mode from the start (an operator turns it off over REST).
        public var conservativeAtStart = false
        /// Whether slow decisions or slow epoch hooks switch conservative mode on by themselves.
        public var latencyTriggers = true
        /// Field reports older than this are dropped from `<data>/tamiyo/field_reports.log`.
        public var fieldReportRetentionHours = 24.0
        /// A validation-loss rise above this in one epoch pauses the seeds.
        public var maxLossSpike = 0.15
        /// Memory the process may use, for the risk engine's memory dimension (nil: detected).
        public var memoryLimitMegabytes: Int?
        /// Kasmina's kernel fetch budget; a slower fetch falls back (BP001, then identity).
        public var kernelBudgetMs = 10.0
        /// Simic's replay buffer: experiences kept (FIFO eviction) and their maximum age.
        public var simicBufferCapacity = 1024
        public var simicReplayTTLHours = 24.0
        public init() {}
    }

    /// Names of the Oona streams (`OONA_*`).
    public struct StreamNames: Sendable, Equatable {
        public var normal = "oona.normal"
        public var emergency = "oona.emergency"
        public var telemetry = "oona.telemetry"
        public var policy = "oona.policy"
        public init() {}
    }

    /// Every environment variable the server reads, with its default, for `--help`, the
    /// README's table and the test that keeps the two in step.
    public static let variables: [(name: String, defaultValue: String, meaning: String)] = [
        ("ESPER_HOST", "127.0.0.1", "address to listen on (IPv4/IPv6 literal or host name)"),
        ("ESPER_PORT", "8080", "TCP port, 0-65535 (0 picks a free one)"),
        ("ESPER_DATA_DIR", "var", "directory for all state: managed Redis, SQLite, artifacts, logs"),
        ("REDIS_URL", "(unset: managed redis-server)", "external Redis: redis://[:password@]host[:port][/db] or unix:///path[?db=N]"),
        ("ESPER_REDIS_SERVER", "redis-server", "binary for the managed Redis"),
        ("ESPER_REDIS_CONFIG", "infra/redis.conf if present", "config file the managed Redis loads before esper's own settings"),
        ("OONA_NORMAL_STREAM", "oona.normal", "stream for state packets, commands, field reports"),
        ("OONA_EMERGENCY_STREAM", "oona.emergency", "overflow and emergency stream"),
        ("OONA_TELEMETRY_STREAM", "oona.telemetry", "telemetry stream"),
        ("OONA_POLICY_STREAM", "oona.policy", "policy-update stream"),
        ("ESPER_LEYLINE_SECRET", "(unset: signing off)", "HMAC-SHA256 key for bus messages, at least 32 bytes; set but empty is an error"),
        ("ESPER_LEYLINE_PREVIOUS_SECRET", "(unset)", "the key before the current one, still accepted when verifying during a rotation"),
        ("OONA_MAX_STREAM_LENGTH", "10000", "every XADD trims its stream to about this many entries; 0 = unbounded"),
        (
            "OONA_EMERGENCY_THRESHOLD", "4000",
            "normal-stream backlog (pending + not yet delivered) at which publishes reroute to the emergency stream; 0 = off"
        ),
        (
            "OONA_DROP_THRESHOLD", "8000",
            "stream backlog at which publishes are refused (normal and emergency); 0 = off; must exceed the emergency threshold"
        ),
        ("OONA_MESSAGE_TTL_S", "3600", "message time-to-live in seconds; older entries are swept and not delivered"),
        ("OONA_CLAIM_MIN_IDLE_MS", "30000", "pending entries idle this long are reclaimed from their consumer"),
        ("OONA_MAX_ATTEMPTS", "3", "deliveries before an entry goes to the dead-letter stream"),
        (
            "OONA_BREAKER_RECOVERY_MS", "30000",
            "longest wait between probes of an open Redis circuit breaker (probes start 50 ms after it opens and double, at most 2 s)"
        ),
        ("OONA_BACKLOG_REFRESH_MS", "100", "publishers re-measure the consuming groups' backlog at least this often, ms; 0 = every batch"),
        (
            "OONA_CONSERVATIVE_BACKLOG", "half of OONA_EMERGENCY_THRESHOLD",
            "bus backlog that, sustained 5 s, turns conservative mode on (off again at a quarter); 0 = only by hand"
        ),
        ("ESPER_HTTP_THREADS", "number of cores", "HTTP thread pool size, 1-256"),
        ("ESPER_HTTP_CONNECTION_TIMEOUT_S", "30", "idle connection timeout in seconds, 1-3600"),
        ("ESPER_HTTP_MAX_CONNECTIONS", "1024", "open connections at most, 1-65536"),
        ("ESPER_HTTP_MAX_CONNECTIONS_PER_IP", "256", "open connections per client address, 0 (no limit)-65536"),
        ("ESPER_HTTP_MAX_BODY_BYTES", "1048576", "largest request body; larger gets 413"),
        ("ESPER_HTTP_CONNECTION_MEMORY_BYTES", "16384", "per-connection buffer (bounds header size), 8192-1048576"),
        ("ESPER_API_TOKEN", "(unset: no auth)", "bearer token every mutating endpoint requires, at least 16 bytes"),
        ("ESPER_API_PROTECT_READS", "off", "on: reads need the token too (except /healthz, /metrics, /api/v1/version)"),
        ("ESPER_SSE_MAX_SUBSCRIBERS", "256", "open Server-Sent Events streams at most, 1-100000; one more gets 503 with Retry-After"),
        ("ESPER_SSE_HEARTBEAT_S", "15", "seconds between heartbeat comments on idle event streams, 1-3600"),
        ("ESPER_SSE_CLIENT_BUFFER_BYTES", "262144", "bytes buffered per event stream before a slow client is dropped, 4096-67108864"),
        ("ESPER_ACCESS_LOG", "on", "one log line per request: on or off"),
        (
            "ESPER_ACCESS_LOG_SAMPLE", "1",
            "fraction 0-1 of successful fast reads (GET/HEAD/OPTIONS < 400) logged; errors, slow requests and mutations always"
        ),
        ("ESPER_ACCESS_LOG_SLOW_MS", "1000", "requests taking at least this long are always logged, 0-3600000 ms"),
        (
            "ESPER_ACCESS_LOG_PROBE_SAMPLE", "0.01 (ESPER_ACCESS_LOG_SAMPLE if only that is set)",
            "fraction 0-1 of successful fast /healthz and /metrics requests logged"
        ),
        ("ESPER_LOG_LEVEL", "info", "trace, debug, info, notice, warning, error or critical"),
        ("ESPER_FORGE_AT_START", "on", "compile missing blueprints in the background at start: on or off"),
        ("ESPER_FORGE_WORKERS", "1", "concurrent blueprint compiles, 1-2"),
        ("ESPER_FORGE_MAX_RETRIES", "1", "retries of a failed compile, 0-10 (attempts = retries + 1)"),
        ("ESPER_SEED_WIDTH", "64", "width d of the host's seed slots that kernels are compiled for, 1-16384"),
        ("ESPER_COMPILE_STRATEGY", "standard", "kernel autotuning effort: emergency, fast, standard or aggressive"),
        ("ESPER_URZA_KERNEL_CACHE_MB", "1024", "memory for decoded kernels in Urza's cache, 1-65536 MB"),
        ("TAMIYO_CONSERVATIVE_MODE", "off", "start Tamiyo in conservative mode (safe-pool germinations only): on or off"),
        (
            "TAMIYO_LATENCY_TRIGGERS", "on",
            "slow decisions or epoch hooks switch conservative mode on by themselves: on, or off where growth must not depend on the machine's speed"
        ),
        ("TAMIYO_FIELD_REPORT_RETENTION_HOURS", "24", "hours field reports stay in <data>/tamiyo/field_reports.log, 1-8760"),
        ("TAMIYO_MAX_LOSS_SPIKE", "0.15", "validation-loss rise in one epoch that pauses the seeds, 0.001-100"),
        (
            "TAMIYO_MEMORY_LIMIT_MB", "cgroup limit or machine memory",
            "memory the risk engine measures the process's resident set against, 1-16777216 MB"
        ),
        ("KASMINA_KERNEL_BUDGET_MS", "10", "kernel fetch budget in ms; a slower fetch falls back to BP001, 0.1-10000"),
        ("SIMIC_BUFFER_CAPACITY", "1024", "field reports Simic's replay buffer keeps (oldest evicted first), 1-1000000"),
        ("SIMIC_REPLAY_TTL_HOURS", "24", "maximum age of a field report in Simic's replay buffer, hours, 0.01-8760"),
        (
            "ESPER_MAX_CONCURRENT_RUNS", "number of cores",
            "worker slots of this process: training runs it executes at once, 1-256 (more wait queued)"
        ),
        ("ESPER_BLAS_THREADS", "1", "GEMM threads per call for the whole process, 1-64"),
        ("ESPER_STUDY_MAX_RUNS", "200", "runs one study may create at most, 1-100000"),
        ("ESPER_DATASETS_DIR", "<data dir>/datasets", "directory holding the CSV/IDX files run configs may name"),
        ("ESPER_LOCAL_WORKERS", "on", "esper serve trains runs on in-process worker slots: on, or off for a pure control plane"),
        (
            "ESPER_LOCAL_COMPILES", "on",
            "with ESPER_LOCAL_WORKERS=off: the server keeps a slot for compile jobs (on) or leaves them to workers (off)"
        ),
        (
            "ESPER_CHECKPOINT_DIR", "<data dir>/tolaria/runs",
            "run checkpoints (<dir>/<run id>/checkpoints); shared by every worker that may resume a run"
        ),
        ("ESPER_SERVER_URL", "(unset)", "esper worker: base URL of the server it works for (http:// or https://)"),
        ("NISSA_RULES_FILE", "infra/nissa/alert_rules.json if present, else built-in", "alert rules (JSON), validated at start"),
        ("NISSA_SERIES_SPAN_S", "3600", "how far back each in-memory time series keeps points, seconds"),
        ("NISSA_SERIES_MAX_POINTS", "10000", "points per time series at most (ring buffer size)"),
        ("NISSA_MAX_SERIES", "5000", "telemetry series (metric x labels) kept at most; more are counted and dropped"),
        ("NISSA_ALERT_HISTORY", "1000", "alerts kept in memory (resolved ones are evicted first)"),
        ("NISSA_SLACK_WEBHOOK_URL", "(unset)", "webhook URL of the slack receiver (Alertmanager webhook format v4)"),
        ("NISSA_PAGERDUTY_WEBHOOK_URL", "(unset)", "webhook URL of the pagerduty receiver"),
        ("NISSA_EMAIL_WEBHOOK_URL", "(unset)", "webhook URL of the email receiver"),
        ("NISSA_ALERTMANAGER_URL", "(unset)", "a real Alertmanager; alerts are also posted to its /api/v2/alerts"),
        ("NISSA_ALERTMANAGER_RESEND_S", "60", "how often firing alerts are re-sent to the Alertmanager"),
        (
            "NISSA_DRILL_HOLD_S", "60",
            "how long a drill holds its alert firing before resolving it, 0-3600 s (unset: one Alertmanager resend, at least 60)"
        ),
        ("NISSA_EXTERNAL_URL", "http://<host>:<port>", "this server's URL as receivers should link to it (externalURL, generatorURL)"),
        ("NISSA_WEBHOOK_TIMEOUT_MS", "5000", "timeout of one webhook POST"),
        ("NISSA_WEBHOOK_MAX_ATTEMPTS", "4", "quick attempts (backoff doubling) before a delivery is parked as undeliverable"),
        ("NISSA_WEBHOOK_BACKOFF_MS", "1000", "first retry delay; doubles per attempt"),
        ("NISSA_WEBHOOK_PARKED_RETRY_S", "60", "retry interval of undeliverable notifications (kept, never dropped)"),
        ("NISSA_SLO_TARGET", "0.99", "fraction of SLO samples that must meet their objective (error budget = 1 - target)"),
        ("NISSA_SLO_WINDOW_S", "2592000", "error-budget (long) window, seconds (30 days)"),
        ("NISSA_SLO_SHORT_WINDOW_S", "3600", "fast-burn (short) window, seconds"),
        ("NISSA_SLO_FAST_BURN", "14.4", "short-window burn rate at which an SLO is breached (with the long-window burn >= 1)"),
        (
            "NISSA_PARKED_MAX", "10000",
            "undelivered notifications kept, 1-1000000; past it the oldest is dead-lettered to <data>/nissa/dead-letters.log"
        ),
        ("NISSA_RETENTION_DAYS", "30", "resolved alerts and settled deliveries older than this leave <data>/nissa/nissa.db, 0.01-3650"),
        (
            "NISSA_FINISHED_RUN_RETENTION_S", "3600",
            "seconds a finished run's series stay after its terminal status, 0-2592000 (sooner at NISSA_MAX_SERIES)"
        ),
        ("ESPER_STORAGE_CHECK_S", "5", "seconds between storage write checks (write, fsync, remove a probe file), 1-3600"),
        ("ESPER_INTEGRITY_CHECK_S", "3600", "seconds between PRAGMA quick_check runs on every SQLite file (also at start), 60-604800"),
        (
            "ESPER_HTTP_RESERVED_CONNECTIONS", "128 (at most 1/8 of ESPER_HTTP_MAX_CONNECTIONS)",
            "last connections kept for addresses holding fewer than 4 (health checks, operators); 0 = off"
        ),
        (
            "ESPER_HTTP_TRUSTED_PROXIES", "(unset)",
            "comma-separated IPs of reverse proxies: exempt from the per-address cap and reserve; their X-Forwarded-For is believed"
        ),
    ]

    /// Builds the configuration from flags (already parsed, nil when not given), the
    /// environment and `.env` in `workingDirectory`.
    public static func resolve(
        flags: [String: String], environment: [String: String],
        workingDirectory: String
    ) throws(ConfigurationError) -> Configuration {
        let dotEnv = try DotEnv.load(path: workingDirectory + "/.env")
        var merged = dotEnv
        for (key, value) in environment { merged[key] = value }
        for (key, value) in flags { merged[key] = value }
        var config = Configuration()
        config.http.threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
        config.maxConcurrentRuns = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try config.apply(merged, workingDirectory: workingDirectory)
        return config
    }

    mutating func apply(_ values: [String: String], workingDirectory: String) throws(ConfigurationError) {
        let settings = ConfigurationValues(values: values)
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? { try settings.integer(name, range) }
        func nonEmpty(_ name: String) throws(ConfigurationError) -> String? { try settings.nonEmpty(name) }

        if let host = try nonEmpty("ESPER_HOST") { http.host = host }
        if let port = try integer("ESPER_PORT", 0...65535) { http.port = UInt16(port) }
        if let threads = try integer("ESPER_HTTP_THREADS", 1...256) { http.threads = threads }
        if let timeout = try integer("ESPER_HTTP_CONNECTION_TIMEOUT_S", 1...3600) { http.connectionTimeoutSeconds = timeout }
        if let limit = try integer("ESPER_HTTP_MAX_CONNECTIONS", 1...65536) { http.maxConnections = limit }
        if let limit = try integer("ESPER_HTTP_MAX_CONNECTIONS_PER_IP", 0...65536) { http.maxConnectionsPerIP = limit }
        http.reservedConnections = min(http.reservedConnections, http.maxConnections / 8)
        if let reserve = try integer("ESPER_HTTP_RESERVED_CONNECTIONS", 0...65535) {
            guard reserve < http.maxConnections else {
                throw ConfigurationError(
                    variable: "ESPER_HTTP_RESERVED_CONNECTIONS",
                    message: "must be below ESPER_HTTP_MAX_CONNECTIONS (\(http.maxConnections))")
            }
            http.reservedConnections = reserve
        }
        if let proxies = try nonEmpty("ESPER_HTTP_TRUSTED_PROXIES") {
            var addresses: [String] = []
            for item in proxies.split(separator: ",") {
                let address = item.trimmingCharacters(in: .whitespaces)
                var v4 = in_addr()
                var v6 = in6_addr()
                guard inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1 else {
                    throw ConfigurationError(variable: "ESPER_HTTP_TRUSTED_PROXIES", message: "'\(address)' is not an IP address")
                }
                addresses.append(address)
            }
            http.trustedProxies = addresses
        }
        if let limit = try integer("ESPER_HTTP_MAX_BODY_BYTES", 1...(256 << 20)) { http.maxBodyBytes = limit }
        if let limit = try integer("ESPER_HTTP_CONNECTION_MEMORY_BYTES", 8192...(1 << 20)) { http.connectionMemoryLimitBytes = limit }
        if let value = try settings.onOff("ESPER_ACCESS_LOG") {
            http.accessLog = value
        }
        if let value = try settings.number("ESPER_ACCESS_LOG_SAMPLE", 0...1) {
            http.accessLogSample = value
            http.accessLogProbeSample = value
        }
        if let value = try settings.number("ESPER_ACCESS_LOG_PROBE_SAMPLE", 0...1) { http.accessLogProbeSample = value }
        if let value = try integer("ESPER_ACCESS_LOG_SLOW_MS", 0...3_600_000) { http.accessLogSlowMilliseconds = value }
        if let token = values["ESPER_API_TOKEN"] {
            guard token.utf8.count >= 16, !token.contains(where: { $0.isWhitespace }) else {
                throw ConfigurationError(
                    variable: "ESPER_API_TOKEN", message: "must be at least 16 bytes without spaces (it is \(token.utf8.count))")
            }
            apiToken = token
        }
        if let value = try settings.onOff("ESPER_API_PROTECT_READS") {
            protectReads = value
            if protectReads && apiToken == nil {
                throw ConfigurationError(variable: "ESPER_API_PROTECT_READS", message: "is on but ESPER_API_TOKEN is not set")
            }
        }
        if let level = values["ESPER_LOG_LEVEL"] {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(
                    variable: "ESPER_LOG_LEVEL", message: "'\(level)' must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }

        if let value = try settings.onOff("ESPER_FORGE_AT_START") {
            blueprints.forgeAtStart = value
        }
        if let workers = try integer("ESPER_FORGE_WORKERS", 1...2) { blueprints.forgeWorkers = workers }
        if let retries = try integer("ESPER_FORGE_MAX_RETRIES", 0...10) { blueprints.maxRetries = retries }
        if let width = try integer("ESPER_SEED_WIDTH", 1...16384) { blueprints.seedWidth = width }
        if let strategy = values["ESPER_COMPILE_STRATEGY"] {
            let name = strategy.lowercased()
            guard ["emergency", "fast", "standard", "aggressive"].contains(name) else {
                throw ConfigurationError(
                    variable: "ESPER_COMPILE_STRATEGY",
                    message: "'\(strategy)' must be emergency, fast, standard or aggressive")
            }
            blueprints.compileStrategy = name
        }
        if let megabytes = try integer("ESPER_URZA_KERNEL_CACHE_MB", 1...65536) { blueprints.kernelCacheMegabytes = megabytes }

        if let value = try settings.onOff("TAMIYO_CONSERVATIVE_MODE") { control.conservativeAtStart = value }
        if let value = try settings.onOff("TAMIYO_LATENCY_TRIGGERS") { control.latencyTriggers = value }
        if let hours = try settings.number("TAMIYO_FIELD_REPORT_RETENTION_HOURS", 1...8760) { control.fieldReportRetentionHours = hours }
        if let spike = try settings.number("TAMIYO_MAX_LOSS_SPIKE", 0.001...100) { control.maxLossSpike = spike }
        if let limit = try settings.integer("TAMIYO_MEMORY_LIMIT_MB", 1...16_777_216) { control.memoryLimitMegabytes = limit }
        if let budget = try settings.number("KASMINA_KERNEL_BUDGET_MS", 0.1...10_000) { control.kernelBudgetMs = budget }
        if let capacity = try settings.integer("SIMIC_BUFFER_CAPACITY", 1...1_000_000) { control.simicBufferCapacity = capacity }
        if let hours = try settings.number("SIMIC_REPLAY_TTL_HOURS", 0.01...8760) { control.simicReplayTTLHours = hours }

        if let directory = try nonEmpty("ESPER_DATA_DIR") { dataDirectory = directory }
        dataDirectory = Configuration.absolute(dataDirectory, relativeTo: workingDirectory)
        try Configuration.checkDataDirectory(dataDirectory)

        if let runs = try integer("ESPER_MAX_CONCURRENT_RUNS", 1...256) { maxConcurrentRuns = runs }
        if let threads = try integer("ESPER_BLAS_THREADS", 1...64) { blasThreads = threads }
        if let seconds = try settings.number("ESPER_STORAGE_CHECK_S", 1...3600) { storageCheckSeconds = seconds }
        if let seconds = try settings.number("ESPER_INTEGRITY_CHECK_S", 60...604_800) { integrityCheckSeconds = seconds }
        if let maxRuns = try integer("ESPER_STUDY_MAX_RUNS", 1...100_000) { studyMaxRuns = maxRuns }
        if let directory = try nonEmpty("ESPER_DATASETS_DIR") {
            let path = Configuration.absolute(directory, relativeTo: workingDirectory)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigurationError(variable: "ESPER_DATASETS_DIR", message: "\(path) is not a directory")
            }
            datasetsDirectory = path
        }
        if let local = try settings.onOff("ESPER_LOCAL_WORKERS") { localWorkers = local }
        if let compiles = try settings.onOff("ESPER_LOCAL_COMPILES") { localCompiles = compiles }
        if let directory = try nonEmpty("ESPER_CHECKPOINT_DIR") {
            checkpointDirectory = Configuration.absolute(directory, relativeTo: workingDirectory)
        }
        serverURL = try settings.url("ESPER_SERVER_URL")

        if let url = values["REDIS_URL"], !url.isEmpty {
            do {
                redisURL = try RedisEndpoint.parse(url)
            } catch {
                throw ConfigurationError(variable: "REDIS_URL", message: error.description)
            }
        }
        if let server = try nonEmpty("ESPER_REDIS_SERVER") { redisServerExecutable = server }
        if let file = try nonEmpty("ESPER_REDIS_CONFIG") {
            let path = Configuration.absolute(file, relativeTo: workingDirectory)
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError(variable: "ESPER_REDIS_CONFIG", message: "\(path) is not a readable file")
            }
            redisConfigFile = path
        } else {
            let bundled = workingDirectory + "/infra/redis.conf"
            if FileManager.default.isReadableFile(atPath: bundled) { redisConfigFile = bundled }
        }

        for (name, keyPath) in [
            ("OONA_NORMAL_STREAM", \StreamNames.normal), ("OONA_EMERGENCY_STREAM", \StreamNames.emergency),
            ("OONA_TELEMETRY_STREAM", \StreamNames.telemetry), ("OONA_POLICY_STREAM", \StreamNames.policy),
        ] {
            guard let value = values[name] else { continue }
            guard !value.isEmpty, value.utf8.count <= 200, !value.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw ConfigurationError(variable: name, message: "'\(value)' must be 1-200 characters without spaces")
            }
            streams[keyPath: keyPath] = value
        }
        let names = [streams.normal, streams.emergency, streams.telemetry, streams.policy]
        if Set(names).count != names.count {
            throw ConfigurationError(
                variable: "OONA_*_STREAM", message: "the four stream names must differ (got \(names.joined(separator: ", ")))")
        }

        if let secret = values["ESPER_LEYLINE_SECRET"] {
            // Set but empty is almost always a copied example file: refuse it rather than run
            // unsigned by accident.
            guard !secret.isEmpty else {
                throw ConfigurationError(
                    variable: "ESPER_LEYLINE_SECRET", message: "is set but empty; unset it to run without signing, or set at least 32 bytes"
                )
            }
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(
                    variable: "ESPER_LEYLINE_SECRET", message: "is \(secret.utf8.count) bytes; a signing key needs at least 32")
            }
            leylineSecret = secret
        }
        try applyOona(values)
        try applyNissa(values, workingDirectory: workingDirectory)

        if let limit = try integer("ESPER_SSE_MAX_SUBSCRIBERS", 1...100_000) { events.maxSubscribers = limit }
        if let seconds = try integer("ESPER_SSE_HEARTBEAT_S", 1...3600) { events.heartbeat = .seconds(seconds) }
        if let bytes = try integer("ESPER_SSE_CLIENT_BUFFER_BYTES", 4096...(64 << 20)) { events.clientBufferBytes = bytes }
    }

    static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }

    /// Creates the data directory if needed and checks we can use it.
    static func checkDataDirectory(_ path: String) throws(ConfigurationError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ConfigurationError(variable: "ESPER_DATA_DIR", message: "\(path) exists and is not a directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ConfigurationError(variable: "ESPER_DATA_DIR", message: "cannot create \(path): \(error.localizedDescription)")
            }
        }
        let probe = path + "/.esper-write-check-\(getpid())"
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw ConfigurationError(variable: "ESPER_DATA_DIR", message: "\(path) is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }
}
