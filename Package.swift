// swift-tools-version:6.1
import PackageDescription

/// One settings list for every target: Swift 6 language mode (strict concurrency) and
/// internal imports by default, so C types from `CRdKafka` cannot leak into public API.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

/// Hot paths (Forest evaluator, Features parser) are compiled with full optimisation even in debug
/// builds, so tests run at a realistic speed. They keep Swift's bounds and overflow checks (`-O`,
/// not `-Ounchecked`): both read untrusted input (model files, event bytes) and must fail with an
/// error, never corrupt memory. Their inner loops walk validated data through unsafe pointers, so
/// the checks cost the hot loops nothing measurable.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-O", "-enforce-exclusivity=unchecked"]),
]

/// The per-message paths of the Kafka wrapper and the scoring service drop Swift's dynamic
/// exclusivity checks in release builds (debug builds and the tests keep them, so a conflicting
/// access still traps there). Each access to a class's stored property on the hot path paid a
/// `swift_beginAccess`/`swift_endAccess` pair, visible in a drain's profile (BENCHMARKS.md,
/// "Service vs Python baseline").
let perMessageSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "InstallScorer",
    platforms: [.macOS(.v15)],  // Synchronization's Mutex and Atomic (Scoring, scorer) need macOS 15
    products: [
        .executable(name: "scorer", targets: ["scorer"]),
        .executable(name: "simulator", targets: ["simulator"]),
        .library(name: "Forest", targets: ["Forest"]),
        .library(name: "Features", targets: ["Features"]),
        .library(name: "ModelBundles", targets: ["ModelBundles"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "Scoring", targets: ["Scoring"]),
        .library(name: "Monitor", targets: ["Monitor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // SHA-256 for model identities (name@hash).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: - Kafka
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        .target(name: "Kafka", dependencies: ["CRdKafka"], swiftSettings: perMessageSettings),
        .target(
            name: "KafkaOptions",
            dependencies: ["Kafka", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),

        // MARK: - Model and features
        .target(name: "Forest", dependencies: ["ForestKernels"], swiftSettings: hotPathSettings),
        // The evaluator's AVX2 kernel (C: Swift cannot compile one function for AVX2 behind a
        // runtime CPU check). Optimised in debug builds too, like the Swift hot paths.
        .target(name: "ForestKernels", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Features", dependencies: ["CZlib"], swiftSettings: hotPathSettings),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // A model bundle (model + feature spec + card + reference events), proven on load, its
        // identity, and the prediction encoder: what both the service and offline scoring serve.
        .target(
            name: "ModelBundles",
            dependencies: ["Features", "Forest", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: hotPathSettings
        ),

        // MARK: - Service
        .target(
            name: "Scoring",
            dependencies: [
                "Kafka", "Forest", "Features", "ModelBundles",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: perMessageSettings
        ),

        // MARK: - Model monitor
        // Joins predictions with outcomes and reports calibration, AUC and their drift per model.
        .target(name: "Monitor", dependencies: ["Kafka"], swiftSettings: perMessageSettings),

        // MARK: - Load simulator
        .target(
            name: "LoadSimulator",
            dependencies: [
                "Kafka", "Features",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "simulator/Sources/LoadSimulator",
            // Per-event paths (rendering, id scanning, ledger) run at the target rate even in debug builds.
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "simulator",
            dependencies: [
                "LoadSimulator", "KafkaOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "simulator/Sources/simulator",
            swiftSettings: swiftSettings
        ),

        // MARK: - Command line
        .executableTarget(
            name: "scorer",
            dependencies: [
                "Scoring", "Forest", "Features", "ModelBundles", "Kafka", "KafkaOptions", "LoadSimulator", "Monitor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings,
            // jemalloc replaces glibc's malloc in the scorer process: librdkafka allocates every
            // message on one thread and frees it on another, which glibc serves through locked
            // arenas, and jemalloc makes the drain steadier (BENCHMARKS.md, "Service vs Python
            // baseline", has the runs with and without).
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]
        ),

        // MARK: - Tests
        // The broker the integration tests talk to: the mock cluster, or Tansu with SCORER_TEST_BROKER=tansu.
        .target(name: "TestBrokers", dependencies: ["Kafka"], path: "Tests/TestBrokers", swiftSettings: swiftSettings),
        .testTarget(name: "ForestTests", dependencies: ["Forest"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "FeaturesTests", dependencies: ["Features"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "ModelBundlesTests", dependencies: ["ModelBundles", "Features", "Forest"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "KafkaOptions", "TestBrokers"], swiftSettings: swiftSettings),
        .testTarget(name: "ScoringTests", dependencies: ["Scoring", "Kafka", "Forest", "Features", "ModelBundles", "TestBrokers"], swiftSettings: swiftSettings),
        .testTarget(name: "MonitorTests", dependencies: ["Monitor", "Kafka", "TestBrokers"], swiftSettings: swiftSettings),
        .testTarget(name: "LoadSimulatorTests", dependencies: ["LoadSimulator", "Kafka", "TestBrokers", "simulator"], swiftSettings: swiftSettings),
    ]
)
