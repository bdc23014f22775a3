import Foundation
import Kafka
import TestBrokers

/// Consumer settings for tests: the development-cluster preset plus short group timings, so
/// joins and rebalances take about a second instead of librdkafka's production defaults.
func testConsumerConfig(_ cluster: DevelopmentCluster, group: String) -> KafkaConfig {
    var config = KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers)
    config.groupID = group
    config.autoOffsetReset = .earliest
    config.sessionTimeoutMs = 3000
    config.properties["heartbeat.interval.ms"] = "200"
    return config
}

/// `testConsumerConfig` for the broker the run selects (`TestBroker`): its client settings, with a
/// 3 s session on the mock cluster and the broker's own test session timeout elsewhere (noida-db
/// refuses less than 6 s).
func testConsumerConfig(_ broker: TestBroker, group: String) -> KafkaConfig {
    var config = broker.config
    config.groupID = group
    config.autoOffsetReset = .earliest
    if broker.kind == .mock { config.sessionTimeoutMs = 3000 }
    config.properties["heartbeat.interval.ms"] = "200"
    return config
}

/// `testProducerConfig` for the broker the run selects.
func testProducerConfig(_ broker: TestBroker) -> KafkaConfig {
    var config = broker.config
    config.lingerMs = 1
    config.acks = .all
    config.idempotence = true
    return config
}

func testProducerConfig(_ cluster: DevelopmentCluster) -> KafkaConfig {
    var config = KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers)
    config.lingerMs = 1
    config.acks = .all
    config.idempotence = true
    return config
}

/// A topic/group name no other test uses.
func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

/// Produces `count` messages with key "k<i>" and value "v<i>" to `partition` (or by key), flushes,
/// and returns the delivery reports.
func produceNumbered(
    _ producer: KafkaProducer, topic: String, range: Range<Int>, partition: Int? = nil
) throws -> [DeliveryReport] {
    for index in range {
        try producer.produce(
            topic: topic, partition: partition, key: Array("k\(index)".utf8), value: Array("v\(index)".utf8),
            opaque: UInt64(index))
    }
    try producer.flush(timeoutMs: 20_000)
    var reports: [DeliveryReport] = []
    while reports.count < range.count {
        let more = producer.pollDeliveries(max: 100_000, timeoutMs: 1000)
        if more.isEmpty { break }
        reports += more
    }
    return reports
}

/// Polls until `count` messages arrived or `timeoutMs` passed; returns them as (partition, offset, value).
func consume(
    _ consumer: KafkaConsumer, count: Int, timeoutMs: Int = 20_000
) throws -> [(partition: Int, offset: Int64, value: String)] {
    var received: [(partition: Int, offset: Int64, value: String)] = []
    let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
    var batch = KafkaMessageBatch()
    while received.count < count, Date() < deadline {
        try consumer.poll(into: &batch, maxMessages: 1000, timeoutMs: 100)
        for message in batch {
            received.append((message.partition, message.offset, String(decoding: message.value ?? [], as: UTF8.self)))
        }
    }
    return received
}
