import Foundation
public import Kafka
import Synchronization

/// The Kafka-protocol broker an integration test talks to over TCP: librdkafka's mock cluster in
/// this process (the default), or an independent broker, Tansu or noida-db, as a child process.
///
/// `SCORER_TEST_BROKER=tansu` selects Tansu (CI's second tier, `scripts/test-brokers.sh`); its
/// binary comes from `scripts/tansu.sh install` or `SCORER_TEST_TANSU`. Tansu needs librdkafka
/// 2.2 or newer in the test process (`scripts/librdkafka.sh exec`), since it is the client too.
/// `SCORER_TEST_BROKER=noida` selects noida-db (the third tier: the one broker here whose
/// transactions hide aborted records from read_committed readers); its binary comes from
/// `scripts/noida.sh install` or `SCORER_TEST_NOIDA`; any librdkafka from 2.0.2 talks to it.
/// Every `TestBroker` is a fresh broker with no topics; stopping it (or releasing it) ends it.
public final class TestBroker: Sendable {
    /// Which broker implementation.
    public enum Kind: String, Sendable, CaseIterable {
        /// librdkafka's mock cluster (`DevelopmentCluster`), in this process.
        case mock
        /// Tansu (Rust, in-memory storage), a separate process.
        case tansu
        /// noida-db's Kafka service (Rust; state in memory, saved to a temporary data folder), a
        /// separate process.
        case noida
    }

    /// The broker selected for this test run (`SCORER_TEST_BROKER`, default `mock`).
    public static let selected: Kind = {
        let name = ProcessInfo.processInfo.environment["SCORER_TEST_BROKER"] ?? ""
        return Kind(rawValue: name.isEmpty ? "mock" : name) ?? .mock
    }()

    /// Why a test that needs the mock cluster's fault injection or multiple brokers cannot run
    /// on Tansu or noida-db (single brokers, with nothing to take down or re-lead).
    public static let needsMockFaults = "needs the mock cluster's fault injection (brokers down, leaders moved); Tansu and noida-db are one broker each"

    /// Why a test of incremental rebalancing cannot run on noida-db 0.2.3: a member answers its
    /// JoinGroup only if it sees the group complete within the 20 ms between its checks, and with
    /// cooperative-sticky the leader rejoins at once after its SyncGroup, so a member joining an
    /// existing group usually never gets its answer and the group waits for it until the
    /// rebalance timeout (BENCHMARKS.md, "noida-db quirks").
    public static let noidaLosesCooperativeJoins = "needs the cooperative-sticky assignor: noida-db 0.2.3 loses a joining member's JoinGroup answer when the leader rejoins at once, as cooperative rebalancing does, and the group stalls (BENCHMARKS.md, noida-db quirks)"

    /// Why a test that kills a group member with SIGKILL and expects the group to go on cannot
    /// run on noida-db 0.2.3: it expires a member's session only when that member itself sends a
    /// late heartbeat, so a killed member stays in the group for good, and every later rebalance
    /// waits for it until the rebalance timeout (`max.poll.interval.ms`, 300 s by default), after
    /// which noida-db evicts the members that waited (their last heartbeat is older than the
    /// session timeout) and the next round waits again (BENCHMARKS.md, "noida-db quirks").
    public static let noidaKeepsKilledMembers = "kills group members with SIGKILL: noida-db 0.2.3 never evicts a member that dies without leaving, and every later rebalance of its group stalls (BENCHMARKS.md, noida-db quirks)"

    public let kind: Kind
    /// `host:port` of the broker.
    public let bootstrapServers: String
    /// The mock cluster, for tests that inject faults (nil on Tansu and noida-db).
    public let developmentCluster: DevelopmentCluster?
    private let tansu: TansuProcess?
    private let noida: NoidaProcess?

    /// Starts a broker of `kind` (default: the selected one).
    ///
    /// - Parameter brokers: mock cluster size; Tansu and noida-db are always one broker (more is
    ///   refused).
    /// - Throws: `TestBrokerError` when Tansu or noida-db cannot be found or started, or Tansu is
    ///   asked for with a librdkafka that cannot talk to it.
    public init(kind: Kind = TestBroker.selected, brokers: Int = 1) throws {
        self.kind = kind
        switch kind {
        case .mock:
            let cluster = try DevelopmentCluster(brokers: brokers)
            developmentCluster = cluster
            tansu = nil
            noida = nil
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
            noida = nil
            developmentCluster = nil
            bootstrapServers = process.bootstrapServers
        case .noida:
            guard brokers == 1 else { throw TestBrokerError("noida-db runs as a single broker; \(TestBroker.needsMockFaults)") }
            let process = try NoidaProcess.start()
            noida = process
            tansu = nil
            developmentCluster = nil
            bootstrapServers = process.bootstrapServers
        }
    }

    deinit { stop() }

    /// Stops the broker (idempotent).
    public func stop() {
        developmentCluster?.stop()
        tansu?.stop()
        noida?.stop()
    }

    /// Creates a topic with `partitions` partitions (replication factor 1).
    public func createTopic(_ name: String, partitions: Int) throws {
        switch kind {
        case .mock: try developmentCluster?.createTopic(name, partitions: partitions)
        case .tansu: try tansu?.createTopic(name, partitions: partitions)
        case .noida: try noida?.createTopic(name, partitions: partitions)
        }
    }

    /// Client settings for this broker: `KafkaConfig.developmentCluster` on the mock; on Tansu
    /// librdkafka's defaults plus `tansuConsumerProperties` and a short group session timeout; on
    /// noida-db librdkafka's defaults and its shortest session timeout.
    public var config: KafkaConfig {
        switch kind {
        case .mock:
            return KafkaConfig.developmentCluster(bootstrapServers: bootstrapServers)
        case .tansu:
            var config = KafkaConfig(bootstrapServers: bootstrapServers)
            config.consumerProperties = Self.tansuConsumerProperties
            config.sessionTimeoutMs = Self.tansuSessionTimeoutMs
            return config
        case .noida:
            var config = KafkaConfig(bootstrapServers: bootstrapServers)
            config.sessionTimeoutMs = Self.noidaSessionTimeoutMs
            return config
        }
    }

    /// `scorer run --assignor` for tests whose subject is not the assignor: nothing (the scorer's
    /// default, cooperative-sticky) except on noida-db, where `range` (`noidaLosesCooperativeJoins`
    /// says why). Put before a test's own options: the last `--assignor` given wins.
    public var assignorOptions: [String] {
        kind == .noida ? ["--assignor", "range"] : []
    }

    /// `scorer`/`simulator` command-line options that select the client settings for this broker.
    public var commandLineOptions: [String] {
        switch kind {
        case .mock: return ["--broker-profile", "development-cluster"]
        case .tansu: return ["--broker-profile", "kafka"] + Self.tansuConsumerProperties.sorted { $0.key < $1.key }.flatMap { ["-X", "\($0.key)=\($0.value)"] }
        // librdkafka's defaults: noida-db answers an empty fetch at once whatever
        // fetch.wait.max.ms says, so no setting shortens a consumer's wait there.
        case .noida: return ["--broker-profile", "kafka"]
        }
    }

    /// Tansu holds a JoinGroup for half the group's session timeout (it waits that long for the
    /// other members), so test groups use a short one: 6 s, a 3 s join.
    public static let tansuSessionTimeoutMs = 6_000

    /// Consumer settings for Tansu in tests: none beyond librdkafka's defaults.
    public static let tansuConsumerProperties: [String: String] = [:]

    /// noida-db refuses a JoinGroup with a session timeout under 6 s (INVALID_SESSION_TIMEOUT, as
    /// Kafka's default `group.min.session.timeout.ms`) and does not hold joins (a new group's first
    /// member is assigned in ~0.4 s), so test groups use that minimum.
    public static let noidaSessionTimeoutMs = 6_000
}

/// A test broker that could not be started, with the reason.
public struct TestBrokerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
