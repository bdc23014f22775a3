import Foundation
import Kafka
import Testing

@Suite("Failures: broker outage, unreachable brokers, full queues", .serialized, .timeLimit(.minutes(2)))
struct ResilienceTests {
    @Test("A broker set down and up again loses nothing and duplicates nothing")
    func brokerDownAndUp() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("outage")
            try cluster.createTopic(topic, partitions: 1)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            let consumer = try KafkaConsumer(config: testConsumerConfig(cluster, group: uniqueName("g")))
            try consumer.assign([TopicPartitionOffset(topic: topic, partition: 0, offset: TopicPartitionOffset.beginning)])

            let before = try produceNumbered(producer, topic: topic, range: 0..<50, partition: 0)
            #expect(before.count == 50 && before.allSatisfy { $0.error == nil })
            var received = try consume(consumer, count: 50)

            try cluster.setBrokerDown(1)
            for index in 50..<100 {
                try producer.produce(topic: topic, partition: 0, key: nil, value: Array("v\(index)".utf8), opaque: UInt64(index))
            }
            // While the broker is down nothing is delivered and nothing is consumed.
            let duringOutage = producer.pollDeliveries(max: 100, timeoutMs: 500)
            #expect(duringOutage.allSatisfy { $0.error == nil })
            received += try consume(consumer, count: 50, timeoutMs: 300)
            try cluster.setBrokerUp(1)

            try producer.flush(timeoutMs: 30_000)
            var after = duringOutage
            while after.count < 50 {
                let more = producer.pollDeliveries(max: 100, timeoutMs: 1000)
                if more.isEmpty { break }
                after += more
            }
            #expect(after.count == 50)
            #expect(after.allSatisfy { $0.error == nil })
            received += try consume(consumer, count: 100 - received.count, timeoutMs: 30_000)
            #expect(received.map(\.value) == (0..<100).map { "v\($0)" })
            #expect(received.map(\.offset) == (0..<100).map { Int64($0) })
        }
    }

    @Test("An unreachable bootstrap address fails within the configured timeout with a clear error")
    func unreachableBootstrap() async throws {
        try await KafkaThread.run {
            // Port 1 on loopback: nothing listens there, connections are refused at once.
            let config = KafkaConfig(bootstrapServers: "127.0.0.1:1")
            let admin = try KafkaAdmin(config: config)
            let started = Date()
            let error = #expect(throws: KafkaError.self) { try admin.checkConnection(timeoutMs: 1500) }
            let elapsed = Date().timeIntervalSince(started)
            #expect(error?.code == .brokerUnreachable)
            #expect(error?.description.contains("127.0.0.1:1") == true)
            #expect(error?.description.contains("\n") == false)
            #expect(elapsed >= 1.0 && elapsed < 10, "took \(elapsed) s")

            let producer = try KafkaProducer(config: config)
            let producerError = #expect(throws: KafkaError.self) { try producer.checkConnection(timeoutMs: 1000) }
            #expect(producerError?.code == .brokerUnreachable)
        }
    }

    @Test("librdkafka's own log lines reach an installed handler instead of stderr")
    func librdkafkaLogsReachTheHandler() async throws {
        let records = LockedRecords()
        KafkaLog.setHandler { records.append($0) }
        defer { KafkaLog.setHandler(nil) }
        try await KafkaThread.run {
            // Nothing listens on port 1: librdkafka logs the refused connection (facility FAIL).
            var config = KafkaConfig(bootstrapServers: "127.0.0.1:1")
            config.clientID = "log-routing-test"
            let admin = try KafkaAdmin(config: config)
            _ = try? admin.checkConnection(timeoutMs: 1500)
        }
        let failures = records.all.filter { $0.client.hasPrefix("log-routing-test") && $0.facility == "FAIL" }
        #expect(!failures.isEmpty, "got \(records.all.map { "\($0.facility): \($0.message)" })")
        #expect(failures.allSatisfy { $0.level <= 4 && $0.message.contains("127.0.0.1:1") })
    }

    @Test("A full local queue makes produce wait instead of dropping; every message gets one report")
    func backpressureNeverDrops() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("backpressure")
            try cluster.createTopic(topic, partitions: 2)
            var config = testProducerConfig(cluster)
            config.properties["queue.buffering.max.messages"] = "10"
            let producer = try KafkaProducer(config: config)
            // 500 messages through a 10-message queue without the caller polling in between.
            for index in 0..<500 {
                try producer.produce(topic: topic, key: Array("k\(index)".utf8), value: Array("v\(index)".utf8), opaque: UInt64(index))
            }
            try producer.flush(timeoutMs: 30_000)
            var reports: [DeliveryReport] = []
            while true {
                // Fewer than were kept while waiting for room: handed over in order, a few at a time.
                let more = producer.pollDeliveries(max: 7, timeoutMs: 100)
                if more.isEmpty { break }
                #expect(more.count <= 7)
                reports += more
            }
            #expect(reports.count == 500)
            #expect(Set(reports.map(\.opaque)) == Set((0..<500).map { UInt64($0) }))
            for partition in 0..<2 {
                let opaques = reports.filter { $0.partition == partition }.map(\.opaque)
                #expect(opaques == opaques.sorted(), "reports of partition \(partition) out of produce order")
            }
            #expect(reports.allSatisfy { $0.error == nil && $0.offset >= 0 })
            #expect(producer.outstandingCount == 0)
        }
    }

    @Test("The development cluster refuses operations after stop and bad broker ids")
    func developmentClusterLifecycle() throws {
        let cluster = try DevelopmentCluster(brokers: 2)
        #expect(cluster.bootstrapServers.split(separator: ",").count == 2)
        #expect(throws: KafkaError.self) { try cluster.setBrokerDown(3) }
        cluster.stop()
        cluster.stop()
        #expect(throws: KafkaError.self) { try cluster.createTopic("late", partitions: 1) }
        #expect(throws: KafkaError.self) { try DevelopmentCluster(brokers: 0) }
    }
}

/// Log records collected from librdkafka's threads.
private final class LockedRecords: @unchecked Sendable {
    // Sendable: `records` is only touched while holding `lock`.
    private let lock = NSLock()
    private var records: [KafkaLogRecord] = []
    func append(_ record: KafkaLogRecord) { lock.lock(); records.append(record); lock.unlock() }
    var all: [KafkaLogRecord] { lock.lock(); defer { lock.unlock() }; return records }
}
