import Foundation
import Kafka
import TestBrokers
import Testing

/// A broker with the service's three topics, plus helpers to produce events and read outputs back.
///
/// The broker is the one `TestBroker.selected` names: librdkafka's mock cluster (real Kafka
/// protocol over TCP, in this process) by default, or Tansu (`SCORER_TEST_BROKER=tansu`). Either
/// outlives the `scorer` child processes a test kills and restarts.
final class TestCluster: Sendable {
    let broker: TestBroker
    let inputPartitions: Int
    static let input = "impressions"
    static let output = "predictions"
    static let outputPartitions = 2
    static let deadLetters = "impressions.dlq"

    /// The mock cluster, for tests that take brokers down or move leaders (nil on Tansu: such
    /// tests are disabled there with `TestBroker.needsMockFaults`).
    var cluster: DevelopmentCluster! { broker.developmentCluster }

    /// - Parameter brokers: with 2 brokers (mock cluster only), the input's leader is broker 1 and
    ///   the output topics' is broker 2.
    /// - Parameter outputPartitions: the mock cluster keeps about 5 MB per partition: long runs
    ///   need more output partitions so that no prediction falls off before it is read back.
    init(inputPartitions: Int = 4, brokers: Int = 1, outputPartitions: Int = TestCluster.outputPartitions) throws {
        broker = try TestBroker(brokers: brokers)
        self.inputPartitions = inputPartitions
        try broker.createTopic(Self.input, partitions: inputPartitions)
        try broker.createTopic(Self.output, partitions: outputPartitions)
        try broker.createTopic(Self.deadLetters, partitions: 1)
        if brokers > 1, let cluster = broker.developmentCluster {
            for partition in 0..<inputPartitions { try cluster.setLeader(topic: Self.input, partition: partition, broker: 1) }
            for partition in 0..<outputPartitions { try cluster.setLeader(topic: Self.output, partition: partition, broker: 2) }
            try cluster.setLeader(topic: Self.deadLetters, partition: 0, broker: 2)
        }
    }

    var bootstrapServers: String { broker.bootstrapServers }
    /// Client settings for this broker (see `TestBroker.config`).
    var config: KafkaConfig { broker.config }
    /// `scorer run` options selecting the client settings for this broker.
    var commandLineOptions: [String] { broker.commandLineOptions }
    /// `scorer run` options choosing the group assignor where the test does not (see
    /// `TestBroker.assignorOptions`).
    var assignorOptions: [String] { broker.assignorOptions }

    /// Produces `events` (key = the event's key) to the input topic and waits until all are acknowledged.
    func produce(_ events: [TestEvent]) async throws {
        let config = self.config
        try await KafkaThread.run(name: "test-produce") {
            let producer = try KafkaProducer(config: config)
            for event in events {
                try producer.produce(topic: Self.input, key: event.key.map { Array($0.utf8) }, value: event.value)
            }
            try producer.flush(timeoutMs: 30_000)
            let failed = producer.pollDeliveries(max: events.count + 1).compactMap(\.error)
            if let first = failed.first { throw first }
        }
    }

    /// Produces `events` in chunks with a pause between them (a steady stream rather than a
    /// backlog), waiting at the end until all are acknowledged.
    func produceSteadily(_ events: [TestEvent], chunk: Int, pause: Duration) async throws {
        let config = self.config
        let pauseSeconds = Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18
        try await KafkaThread.run(name: "test-produce-steady") {
            let producer = try KafkaProducer(config: config)
            for (index, event) in events.enumerated() {
                try producer.produce(topic: Self.input, key: event.key.map { Array($0.utf8) }, value: event.value)
                if (index + 1) % chunk == 0 {
                    Thread.sleep(forTimeInterval: pauseSeconds)
                    _ = producer.pollDeliveries()
                }
            }
            try producer.flush(timeoutMs: 30_000)
            let failed = producer.pollDeliveries(max: events.count + 1).compactMap(\.error)
            if let first = failed.first { throw first }
        }
    }

    /// Commits `offset` for input `partition` in `group` without joining it (sets where the
    /// group resumes).
    func commit(group: String, partition: Int, offset: Int64) async throws {
        var groupConfig = self.config
        groupConfig.groupID = group
        let config = groupConfig
        try await KafkaThread.run(name: "test-commit") {
            let consumer = try KafkaConsumer(config: config, readsHeaders: false)
            defer { try? consumer.close() }
            try consumer.commit([TopicPartitionOffset(topic: Self.input, partition: partition, offset: offset)])
        }
    }

    /// Reads every output (predictions and dead letters) from the beginning until `count` have
    /// arrived and `settle` passes without more, or `timeout` passes.
    ///
    /// Reads the partitions directly (no consumer group): nothing to join, so no group
    /// coordinator delay (Tansu holds a join for half the session timeout).
    /// - Parameter distinct: count inputs answered (distinct `source` headers) instead of outputs,
    ///   so that inputs scored twice do not end the reading before every input is answered.
    /// - Parameter readUncommitted: read with `isolation.level=read_uncommitted` (outputs of open
    ///   and aborted transactions too) instead of librdkafka's default, `read_committed`.
    func readOutputs(
        atLeast count: Int, timeout: Duration, settle: Duration = .milliseconds(500), distinct: Bool = false,
        readUncommitted: Bool = false
    ) async throws -> [Output] {
        var isolated = self.config
        if readUncommitted { isolated.consumerProperties["isolation.level"] = "read_uncommitted" }
        let config = isolated
        let deadline = ContinuousClock.now + timeout
        return try await KafkaThread.run(name: "test-read") {
            let consumer = try KafkaConsumer(config: config)
            try consumer.assignAll(topics: [Self.output, Self.deadLetters], offset: TopicPartitionOffset.beginning)
            defer { try? consumer.close() }
            var outputs: [Output] = []
            var sources = Set<String>()
            var quietSince = ContinuousClock.now
            while ContinuousClock.now < deadline {
                let batch = try consumer.poll(maxMessages: 10_000, timeoutMs: 50)
                if batch.isEmpty {
                    if (distinct ? sources.count : outputs.count) >= count && ContinuousClock.now - quietSince >= settle { break }
                    continue
                }
                quietSince = ContinuousClock.now
                for message in batch {
                    let output = Output(message)
                    if distinct { sources.insert(output.source) }
                    outputs.append(output)
                }
            }
            return outputs
        }
    }

    /// The group's committed offset per input partition (nil where none) and the log end offsets.
    ///
    /// On Tansu the log end is read from the partitions themselves: its ListOffsets(latest) answers
    /// the last record batch's base offset + 1, not the log end (README, Troubleshooting).
    func committedAndEnd(group: String) async throws -> (committed: [Int: Int64], end: [Int: Int64]) {
        let config = self.config
        let partitions = inputPartitions
        let readEnds = broker.kind == .tansu
        return try await KafkaThread.run(name: "test-admin") {
            let admin = try KafkaAdmin(config: config)
            let lag = try admin.lag(group: group, topic: Self.input, timeoutMs: 10_000)
            var committed: [Int: Int64] = [:]
            var end: [Int: Int64] = [:]
            for entry in lag {
                committed[entry.partition] = entry.committed
                end[entry.partition] = entry.highWatermark
            }
            #expect(end.count == partitions)
            if readEnds { end = try Self.readLogEnds(config: config, partitions: partitions) }
            return (committed, end)
        }
    }

    /// The next offset after the last message of every input partition, read from the beginning
    /// until nothing more arrives for a second.
    private static func readLogEnds(config: KafkaConfig, partitions: Int) throws -> [Int: Int64] {
        let consumer = try KafkaConsumer(config: config, readsHeaders: false)
        try consumer.assignAll(topics: [input], offset: TopicPartitionOffset.beginning)
        defer { try? consumer.close() }
        var end = Dictionary(uniqueKeysWithValues: (0..<partitions).map { ($0, Int64(0)) })
        var quietSince = ContinuousClock.now
        while ContinuousClock.now - quietSince < .seconds(1) {
            let batch = try consumer.poll(maxMessages: 10_000, timeoutMs: 100)
            if batch.isEmpty { continue }
            quietSince = ContinuousClock.now
            for message in batch { end[message.partition] = max(end[message.partition] ?? 0, message.offset + 1) }
        }
        return end
    }
}

/// One output message read back.
struct Output: Sendable {
    let topic: String
    let key: String?
    let value: [UInt8]
    let headers: [String: String]
    var partition = -1
    var offset: Int64 = -1
    /// The message timestamp: a prediction's `scored_at` (ms since the epoch).
    var timestampMs: Int64 = 0

    init(topic: String, key: String?, value: [UInt8], headers: [String: String]) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }

    init(_ message: KafkaMessage) {
        topic = message.topic
        partition = message.partition
        offset = message.offset
        timestampMs = message.timestampMs ?? 0
        key = message.key.map { String(decoding: $0, as: UTF8.self) }
        value = Array(message.value ?? [])
        var headers: [String: String] = [:]
        for header in message.headers { headers[header.name] = header.stringValue }
        self.headers = headers
    }

    var isPrediction: Bool { topic == TestCluster.output }

    /// `source.topic/partition/offset`: which input this output is for.
    var source: String { "\(headers["source.topic"] ?? "?")/\(headers["source.partition"] ?? "?")/\(headers["source.offset"] ?? "?")" }

    /// The prediction's JSON fields.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any]) ?? [:]
    }

    /// The prediction's `p` exactly as printed.
    var printedP: String? {
        let text = String(decoding: value, as: UTF8.self)
        guard let range = text.range(of: "\"p\":") else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "," && $0 != "}" })
    }
}

/// The partition the Java client's default partitioner (and Kafka Streams) picks for `key`:
/// murmur2 of the key bytes (seed 0x9747b28c), sign bit cleared, modulo the partition count.
func javaClientPartition(of key: String, partitions: Int) -> Int {
    let data = Array(key.utf8)
    let m: UInt32 = 0x5bd1_e995
    var h: UInt32 = 0x9747_b28c ^ UInt32(data.count)
    let whole = data.count / 4
    for i in 0..<whole {
        var k = UInt32(data[4 * i]) | UInt32(data[4 * i + 1]) << 8 | UInt32(data[4 * i + 2]) << 16 | UInt32(data[4 * i + 3]) << 24
        k = k &* m
        k ^= k >> 24
        k = k &* m
        h = h &* m
        h ^= k
    }
    let tail = data.count & ~3
    switch data.count % 4 {
    case 3:
        h ^= UInt32(data[tail + 2]) << 16
        h ^= UInt32(data[tail + 1]) << 8
        h ^= UInt32(data[tail])
        h = h &* m
    case 2:
        h ^= UInt32(data[tail + 1]) << 8
        h ^= UInt32(data[tail])
        h = h &* m
    case 1:
        h ^= UInt32(data[tail])
        h = h &* m
    default:
        break
    }
    h ^= h >> 13
    h = h &* m
    h ^= h >> 15
    return Int(h & 0x7fff_ffff) % partitions
}
