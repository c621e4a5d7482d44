// swift-tools-version:6.0
// Esper: a control plane for morphogenetic neural-network training.
import PackageDescription

// Our own code builds warning-free in Swift 6 mode with strict concurrency (the default of
// the Swift 6 language mode).
let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "esper",
    products: [
        .executable(name: "esper", targets: ["esper"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
    ],
    targets: [
        // C libraries from Debian, bridged by small shim headers (static inline wrappers for
        // what Swift cannot call: variadics and macros).
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // libcurl: Nissa's webhook deliveries (HTTPS to Slack/PagerDuty, plain HTTP on loopback).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Numerical kernels in plain C over caller-owned buffers; GEMM through our own AVX-512/AVX2
        // microkernels chosen by CPUID (target attributes, no -m flags), OpenBLAS without AVX2.
        // -fno-math-errno lets sqrtf (Adam) vectorise; no -ffast-math (it breaks the
        // Inf/NaN handling of clipping and layer norm).
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("m"), .linkedLibrary("pthread")]),
        // Kernels: the one Swift face of CKernels (typed wrappers, the RNG, the parameter block);
        // the only module besides the C tests that imports CKernels.
        .target(name: "Kernels", dependencies: ["CKernels"], swiftSettings: strictSwift),

        // Foundation layer (Swift).
        .target(name: "EsperJSON", dependencies: ["CJansson"], swiftSettings: strictSwift),
        .target(name: "EsperStorage", dependencies: ["CSQLite", "COpenSSL", "CZlib"], swiftSettings: strictSwift),
        .target(
            name: "EsperHTTP",
            dependencies: [
                "CMicroHTTPD", "EsperJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift),
        // The HTTP client of an `esper worker` to its server (libcurl): the Urza mirror's reads,
        // remote policy jobs' reads, compiled artifacts' uploads.
        .target(name: "EsperClient", dependencies: ["CCurl"], swiftSettings: strictSwift),
        // Shared contracts: every cross-subsystem enum and message, JSON coding, validation,
        // the bus envelope and its HMAC signing.
        .target(name: "Leyline", dependencies: ["EsperJSON", "COpenSSL"], swiftSettings: strictSwift),
        .target(
            name: "Oona",
            dependencies: [
                "CHiredis", "EsperJSON", "Leyline",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift),

        // Subsystems (Swift).
        // Tolaria: the training engine — host model over the C kernels, data sets, the epoch
        // loop, checkpoints and rollback. No bus, no database: the run service is in Runs.
        .target(
            name: "Tolaria",
            dependencies: [
                "Kernels", "CZlib", "EsperStorage", "EsperJSON", "Leyline",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Resources/README.md"],
            resources: [.copy("Resources/digits.csv.gz"), .copy("Resources/mnist1d.csv.gz")],
            swiftSettings: strictSwift),

        // Runs: the run control plane and the job machinery — the run service behind
        // /api/v1/runs and its registry (SQLite), background work as jobs on Oona's job streams
        // taken by worker slots through one consumer group (in `esper serve` and in `esper
        // worker` processes), leases and heartbeats, run controls, run records applied by the
        // server, the bus sink of training, a worker's mirror of the server's kernel library.
        .target(
            name: "Runs",
            dependencies: [
                "EsperClient", "EsperJSON", "EsperStorage", "Leyline", "Oona", "Tolaria", "Karn", "Urza",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // Nissa: telemetry ingest from Oona, metric registry and ring-buffer time series,
        // alert rules (data) with lifecycle and Alertmanager-format delivery, SLO burn rates,
        // drills and the Grafana JSON datasource queries.
        .target(
            name: "Nissa",
            dependencies: [
                "CCurl", "EsperJSON", "EsperStorage", "Leyline", "Oona",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift),

        // Server-Sent Events: a hub tailing the Oona streams (XREAD, no group) and fanning
        // epoch, seed, command, alert and run events out to HTTP event streams.
        .target(
            name: "EsperEvents",
            dependencies: [
                "EsperHTTP", "EsperJSON", "Leyline", "Oona",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift),

        // The blueprint pipeline: seed kernels as Swift values and their artifact files
        // (KernelRuntime), the template catalog (Karn), the kernel library (Urza), and the
        // compiler and forge (Tezzeret).
        .target(name: "KernelRuntime", dependencies: ["Kernels", "EsperJSON", "EsperStorage"], swiftSettings: strictSwift),
        .target(name: "Karn", dependencies: ["EsperStorage", "Leyline"], swiftSettings: strictSwift),
        .target(name: "Urza", dependencies: ["Karn", "KernelRuntime", "EsperJSON", "EsperStorage", "Leyline"], swiftSettings: strictSwift),
        .target(
            name: "Tezzeret",
            dependencies: [
                "Karn", "Urza", "KernelRuntime", "Kernels", "EsperClient", "EsperJSON", "EsperStorage", "Leyline", "Oona",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // The control loop: Kasmina executes commands at the seed slots (lifecycle, grafting,
        // blending, gradient isolation); Tamiyo decides at every epoch boundary (policies, risk
        // engine, field reports); TamiyoNetwork is the policy network Tamiyo runs and Simic trains.
        .target(
            name: "Kasmina", dependencies: ["Kernels", "Tolaria", "KernelRuntime", "Karn", "Urza", "Leyline", "EsperJSON"],
            swiftSettings: strictSwift),
        .target(name: "TamiyoNetwork", dependencies: ["Kernels", "EsperJSON", "EsperStorage"], swiftSettings: strictSwift),
        // Simic: the offline trainer — replay buffer of field reports, PPO on TamiyoNetwork over
        // the C kernels, the validation harness, versioned policies and training jobs (SQLite).
        .target(
            name: "Simic",
            dependencies: [
                "Kernels", "TamiyoNetwork", "Leyline", "Oona", "EsperClient", "EsperJSON", "EsperStorage",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),
        .target(
            name: "Tamiyo",
            dependencies: [
                "Kasmina", "TamiyoNetwork", "Tolaria", "Karn", "Urza", "KernelRuntime", "Leyline", "Oona", "EsperJSON", "EsperStorage",
                "Kernels", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // Studies: runs grouped into experiments with their controls (no_growth, static_final,
        // fixed configs), statistics over seeds and Welch verdicts; <data>/studies/studies.db.
        .target(
            name: "Studies",
            dependencies: [
                "Tolaria", "Runs", "EsperStorage", "EsperJSON", "Leyline", "Oona",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // HTTP routes and handlers: parse, validate, call a service, encode.
        .target(
            name: "EsperAPI",
            dependencies: [
                "EsperHTTP", "EsperEvents", "EsperJSON", "EsperStorage", "Leyline", "Nissa", "Oona", "Tolaria", "Karn", "Urza",
                "Tezzeret", "Kasmina", "Tamiyo", "TamiyoNetwork", "Simic", "Runs", "Studies",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The operator console at /ui: static files, no build step.
            resources: [.copy("Console")],
            swiftSettings: strictSwift,
            // openapi/esper.yaml compiled in: routes are registered from it by operationId.
            plugins: ["EmbedOpenAPI"]),
        // Writes a text file into a Swift string constant (the OpenAPI document, at build time).
        .executableTarget(name: "EmbedText", swiftSettings: strictSwift),
        .plugin(name: "EmbedOpenAPI", capability: .buildTool(), dependencies: ["EmbedText"]),

        // Configuration (flags, environment, .env) and the wiring of every service into one
        // running server; the executable and the integration tests both use it.
        .target(
            name: "EsperServer",
            dependencies: [
                "EsperAPI", "EsperClient", "EsperEvents", "EsperHTTP", "EsperJSON", "EsperStorage", "Leyline", "Nissa", "Oona",
                "Tolaria", "Karn", "Urza", "Tezzeret", "Kasmina", "Tamiyo", "TamiyoNetwork", "Simic", "Runs", "Studies", "Kernels",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSwift),

        // The `esper` executable: configuration and wiring live here and nowhere else.
        .executableTarget(
            name: "esper",
            dependencies: [
                "EsperServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift),

        // Benchmark of the Swift training loop (bench/, docs/performance.md).
        .executableTarget(
            name: "tolaria-bench", dependencies: ["Tolaria", "Kernels"], path: "bench/TolariaBench", swiftSettings: strictSwift),
        // Benchmark of the blueprint pipeline: forge wall time, kernel fetch latency (docs/performance.md).
        .executableTarget(
            name: "blueprint-bench", dependencies: ["Karn", "KernelRuntime", "Tezzeret", "Urza"],
            path: "bench/BlueprintBench", swiftSettings: strictSwift),

        // Benchmark of the control loop: the end-of-epoch handshake and growth on digits (docs/performance.md).
        .executableTarget(
            name: "control-bench",
            dependencies: [
                "Tamiyo", "Simic", "TamiyoNetwork", "Kasmina", "Tolaria", "Karn", "Tezzeret", "Urza", "Leyline", "EsperStorage", "Kernels",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/ControlBench", swiftSettings: strictSwift),

        // Benchmarks (bench/oona): bus publish throughput and latency against redis-benchmark,
        // and Leyline encode/decode cost. Built in release by bench/oona/run.sh.
        .executableTarget(
            name: "esper-bench-oona",
            dependencies: ["EsperJSON", "Leyline", "Oona", .product(name: "Logging", package: "swift-log")],
            path: "bench/oona/Sources",
            swiftSettings: strictSwift),

        // Benchmark of Nissa (bench/nissa): /metrics render and /grafana/query with 100
        // metrics x 10,000 points.
        .executableTarget(
            name: "esper-bench-nissa",
            dependencies: [
                "EsperAPI", "EsperHTTP", "EsperJSON", "Leyline", "Nissa", .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "bench/nissa/Sources",
            swiftSettings: strictSwift),

        .target(
            name: "EsperTestSupport",
            dependencies: [
                "Oona", "Leyline", "EsperJSON", "Karn", "KernelRuntime", "Tezzeret", "Urza",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/EsperTestSupport"),
        .testTarget(name: "EsperJSONTests", dependencies: ["EsperJSON"]),
        .testTarget(name: "EsperStorageTests", dependencies: ["EsperStorage", "EsperTestSupport"]),
        .testTarget(
            name: "EsperHTTPTests",
            dependencies: [
                "EsperHTTP", "EsperJSON", "EsperTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .testTarget(name: "LeylineTests", dependencies: ["Leyline", "EsperJSON", "EsperTestSupport"]),
        .testTarget(
            name: "OonaTests",
            dependencies: [
                "Oona", "Leyline", "EsperJSON", "EsperTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .testTarget(
            name: "TolariaTests",
            dependencies: [
                "Tolaria", "Kernels", "EsperJSON", "EsperStorage", "Leyline", "EsperTestSupport",
            ]),
        .testTarget(
            name: "NissaTests",
            dependencies: [
                "Nissa", "Leyline", "EsperJSON", "EsperStorage", "EsperTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .testTarget(name: "KernelRuntimeTests", dependencies: ["KernelRuntime", "EsperJSON", "EsperStorage"]),
        .testTarget(name: "KarnTests", dependencies: ["Karn", "EsperJSON"]),
        .testTarget(name: "UrzaTests", dependencies: ["Urza", "Tezzeret", "Karn", "KernelRuntime", "EsperStorage", "EsperTestSupport"]),
        .testTarget(
            name: "TezzeretTests",
            dependencies: [
                "Tezzeret", "Urza", "Karn", "KernelRuntime", "Kernels", "EsperJSON", "EsperStorage", "EsperTestSupport",
            ]),
        .testTarget(
            name: "KasminaTests",
            dependencies: [
                "Kasmina", "Tolaria", "Kernels", "KernelRuntime", "Urza", "Karn", "Leyline", "EsperJSON", "EsperTestSupport",
                "Tezzeret", "EsperStorage",
            ]),
        .testTarget(
            name: "TamiyoTests",
            dependencies: [
                "Tamiyo", "TamiyoNetwork", "Kasmina", "Tolaria", "Kernels", "Karn", "Leyline", "EsperStorage", "EsperTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SimicTests",
            dependencies: [
                "Simic", "TamiyoNetwork", "Leyline", "EsperStorage", "EsperTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "EsperServerTests",
            dependencies: [
                "EsperServer", "EsperAPI", "EsperEvents", "EsperHTTP", "EsperJSON", "Leyline", "Oona", "Tolaria", "EsperTestSupport",
                "Nissa", "Karn",
                "Urza", "Tezzeret", "KernelRuntime", "EsperStorage", "Tamiyo", "Kasmina", "Simic", "TamiyoNetwork", "Runs", "Studies",
                "Kernels",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "StudiesTests", dependencies: ["Studies", "Tolaria", "Runs", "Leyline", "EsperJSON"]),
        .testTarget(
            name: "RunsTests",
            dependencies: [
                "Runs", "Tolaria", "Leyline", "Oona", "EsperJSON", "EsperStorage", "EsperTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)
