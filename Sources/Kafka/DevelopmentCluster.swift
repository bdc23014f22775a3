import CRdKafka
import Foundation

/// A Kafka-protocol cluster inside this process: librdkafka's mock cluster (`rdkafka_mock.h`).
///
/// Its brokers listen on 127.0.0.1 with ephemeral ports and speak the real protocol over TCP, so
/// any Kafka client (this library, kcat, confluent-kafka) can use `bootstrapServers`. It is for
/// development and tests only: it keeps about 5 MB per partition (older data is dropped), holds
/// an empty Fetch for the whole `fetch.wait.max.ms` (use `KafkaConfig.developmentCluster`), and
/// has no persistence. Broker ids are 1...brokerCount.
///
/// The cluster stops when `stop()` is called or the object is deinitialised.
public final class DevelopmentCluster: @unchecked Sendable {
    // Sendable: `host`, `cluster` and `bootstrapServers` never change after init; the mock
    // cluster serialises operations on its own thread (rd_kafka_mock_* calls are thread-safe);
    // `stopped` is guarded by `lock`.
    private let host: OpaquePointer
    private let cluster: OpaquePointer
    private let lock = NSLock()
    private var stopped = false
    /// Comma-separated `127.0.0.1:port` list of the brokers.
    public let bootstrapServers: String
    /// Number of brokers.
    public let brokerCount: Int

    /// Starts `brokers` mock brokers.
    /// - Throws: `KafkaError` `.developmentCluster` when librdkafka cannot start them.
    public init(brokers: Int = 1) throws(KafkaError) {
        guard (1...32).contains(brokers) else {
            throw KafkaError.developmentCluster("broker count must be 1...32, got \(brokers)")
        }
        // The mock cluster lives inside an rd_kafka_t; a producer handle with no bootstrap
        // servers hosts it and otherwise does nothing.
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.developmentCluster("cannot allocate configuration") }
        if let problem = KafkaConfig.set("log_level", "3", on: conf) {
            rd_kafka_conf_destroy(conf)
            throw problem
        }
        let host = try makeHandle(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(host, Int32(brokers)) else {
            rd_kafka_destroy(host)
            throw KafkaError.developmentCluster("librdkafka could not start \(brokers) mock brokers")
        }
        self.host = host
        self.cluster = cluster
        self.brokerCount = brokers
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit { stop() }

    /// Stops every broker and frees the cluster; clients still connected see their connections close.
    public func stop() {
        let shouldStop = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard shouldStop else { return }
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }

    /// Creates a topic with `partitions` partitions, replicated on `min(replicationFactor, brokers)`
    /// brokers; leaders are spread over the brokers.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        try checkRunning()
        guard !name.isEmpty, partitions > 0 else {
            throw KafkaError.developmentCluster("topic needs a name and at least one partition")
        }
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), Int32(min(max(replicationFactor, 1), brokerCount)))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.librdkafka(err, "cannot create topic '\(name)': \(String(cString: rd_kafka_err2str(err)))", code: .developmentCluster)
        }
    }

    /// Makes broker `id` (1...brokerCount) the leader of a partition.
    public func setLeader(topic: String, partition: Int, broker id: Int) throws(KafkaError) {
        try checkRunning()
        let err = rd_kafka_mock_partition_set_leader(cluster, topic, Int32(partition), Int32(id))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err, code: .developmentCluster) }
    }

    /// Takes broker `id` down: its connections close and new ones are refused. Partition
    /// leadership does not move (like a broker restart, not a failover).
    public func setBrokerDown(_ id: Int) throws(KafkaError) {
        try checkBroker(id)
        let err = rd_kafka_mock_broker_set_down(cluster, Int32(id))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err, code: .developmentCluster) }
    }

    /// Brings broker `id` back up.
    public func setBrokerUp(_ id: Int) throws(KafkaError) {
        try checkBroker(id)
        let err = rd_kafka_mock_broker_set_up(cluster, Int32(id))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err, code: .developmentCluster) }
    }

    /// Answers the next requests of Kafka API `apiKey` (0 = Produce, 1 = Fetch, 8 = OffsetCommit,
    /// ...) with the broker error codes `errorCodes`, one per request in order (fault injection
    /// for tests, e.g. `MESSAGE_TOO_LARGE` = 10 on Produce).
    public func failNextRequests(apiKey: Int, withErrors errorCodes: [Int32]) throws(KafkaError) {
        try checkRunning()
        var errors = errorCodes.map { rd_kafka_resp_err_t(rawValue: $0) }
        rd_kafka_mock_push_request_errors_array(cluster, Int16(apiKey), errors.count, &errors)
    }

    private func checkBroker(_ id: Int) throws(KafkaError) {
        try checkRunning()
        guard (1...brokerCount).contains(id) else {
            throw KafkaError.developmentCluster("no broker \(id): ids are 1...\(brokerCount)")
        }
    }

    private func checkRunning() throws(KafkaError) {
        if lock.withLock({ stopped }) { throw KafkaError.developmentCluster("the cluster is stopped") }
    }
}
