import Foundation
import Kafka
import Testing

@Suite("Producer and consumer against the development cluster", .serialized, .timeLimit(.minutes(2)))
struct ProducerConsumerTests {
    @Test("Round trip keeps keys, values, headers and timestamps; delivery reports carry the opaque")
    func roundTrip() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("roundtrip")
            try cluster.createTopic(topic, partitions: 2)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            let timestamp: Int64 = 1_700_000_000_123
            try producer.produce(
                topic: topic, partition: 1, key: Array("key-1".utf8), value: Array("{\"id\":1}".utf8),
                headers: [KafkaHeader(name: "source.topic", string: "impressions"), KafkaHeader(name: "empty", value: nil)],
                timestampMs: timestamp, opaque: 41)
            try producer.produce(topic: topic, partition: 0, key: nil, value: nil, opaque: 42)
            #expect(producer.outstandingCount == 2)
            try producer.flush(timeoutMs: 10_000)
            var reports = producer.pollDeliveries(max: 10, timeoutMs: 1000)
            if reports.count < 2 { reports += producer.pollDeliveries(max: 10, timeoutMs: 1000) }
            #expect(reports.count == 2)
            #expect(producer.outstandingCount == 0)
            let byOpaque = Dictionary(uniqueKeysWithValues: reports.map { ($0.opaque, $0) })
            #expect(byOpaque[41]?.error == nil)
            #expect(byOpaque[41]?.partition == 1)
            #expect(byOpaque[41]?.offset == 0)
            #expect(byOpaque[42]?.partition == 0)

            let consumer = try KafkaConsumer(config: testConsumerConfig(cluster, group: uniqueName("g")))
            try consumer.subscribe(topics: [topic])
            var messages: [KafkaMessage] = []
            let deadline = Date().addingTimeInterval(15)
            while messages.count < 2, Date() < deadline {
                messages += try consumer.poll(maxMessages: 10, timeoutMs: 100)
            }
            try #require(messages.count == 2)
            let withKey = try #require(messages.first { $0.partition == 1 })
            #expect(withKey.topic == topic)
            #expect(withKey.key.map { Array($0) } == Array("key-1".utf8))
            #expect(withKey.value.map { Array($0) } == Array("{\"id\":1}".utf8))
            #expect(withKey.timestampMs == timestamp)
            #expect(withKey.offset == 0)
            #expect(withKey.headers == [KafkaHeader(name: "source.topic", string: "impressions"), KafkaHeader(name: "empty", value: nil)])
            #expect(withKey.header("source.topic").map { Array($0) } == Array("impressions".utf8))
            let tombstone = try #require(messages.first { $0.partition == 0 })
            #expect(tombstone.key == nil)
            #expect(tombstone.value == nil)
            #expect(tombstone.headerCount == 0)
            try consumer.close()
        }
    }
}
