import Foundation
import Kafka
import TestBrokers
import Testing

/// `KafkaAdmin.createTopic` (CreateTopics through librdkafka's admin API). librdkafka's mock
/// cluster has no CreateTopics, so creation itself is checked against the broker the run selects
/// (`SCORER_TEST_BROKER=tansu` or `noida`, `scripts/test-brokers.sh`); on the mock, that the
/// refusal is one clear error rather than a hang.
@Suite("Topic creation through the admin API", .serialized, .timeLimit(.minutes(1)))
struct TopicCreationTests {
    @Test("Creates a topic with the partitions asked for; creating it again says it exists; a bad name is refused with the broker's reason",
          .disabled(if: TestBroker.selected == .mock, "librdkafka's mock cluster has no CreateTopics"))
    func createsTopics() async throws {
        try await KafkaThread.run {
            let broker = try TestBroker()
            let admin = try KafkaAdmin(config: broker.config)
            let topic = uniqueName("created")
            try admin.createTopic(topic, partitions: 5, timeoutMs: 10_000)
            #expect(try admin.topicMetadata(topic, timeoutMs: 5_000)?.partitions == [0, 1, 2, 3, 4])

            // Records go to every partition and back: the topic is usable, not only listed.
            let producer = try KafkaProducer(config: broker.config)
            for partition in 0..<5 {
                try producer.produce(topic: topic, partition: partition, key: nil, value: Array("m\(partition)".utf8))
            }
            try producer.flush(timeoutMs: 10_000)
            let reports = producer.pollDeliveries(max: 10, timeoutMs: 1_000)
            #expect(reports.count == 5 && reports.allSatisfy { $0.error == nil }, "\(reports.compactMap(\.error))")

            let again = #expect(throws: KafkaError.self) { try admin.createTopic(topic, partitions: 5, timeoutMs: 10_000) }
            #expect(again?.librdkafkaName == "TOPIC_ALREADY_EXISTS", "\(String(describing: again))")
            #expect(again?.description.contains(topic) == true)

            // A broker's refusal comes back with its reason (Tansu 0.6.0 accepts any name).
            if broker.kind != .tansu {
                let invalid = #expect(throws: KafkaError.self) { try admin.createTopic("no spaces allowed", partitions: 1, timeoutMs: 10_000) }
                #expect(invalid?.librdkafkaName == "TOPIC_EXCEPTION", "\(String(describing: invalid))")
                #expect(invalid?.description.contains("no spaces allowed") == true, "\(String(describing: invalid))")
                #expect(try admin.topicMetadata("no spaces allowed", timeoutMs: 5_000) == nil)
            }
        }
    }

    @Test("Without a name or a partition nothing is sent: invalid-argument")
    func refusesBadArguments() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: cluster.bootstrapServers))
            for (name, partitions) in [("", 1), ("t", 0), ("t", -1)] {
                let error = #expect(throws: KafkaError.self) { try admin.createTopic(name, partitions: partitions, timeoutMs: 1_000) }
                #expect(error?.code == .invalidArgument, "\(String(describing: error))")
            }
            #expect(try admin.topicMetadata("t", timeoutMs: 5_000) == nil)
        }
    }

    @Test("A broker without CreateTopics (the mock cluster) gives one error line, within the timeout")
    func mockClusterRefusesCreateTopics() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: cluster.bootstrapServers))
            let started = Date()
            let error = #expect(throws: KafkaError.self) { try admin.createTopic("wanted", partitions: 2, timeoutMs: 3_000) }
            #expect(Date().timeIntervalSince(started) < 10)
            #expect(error?.code == .timedOut, "\(String(describing: error))")
            #expect(error?.description.contains("'wanted'") == true && error?.description.contains("CreateTopics") == true)
            #expect(error?.description.contains("\n") == false)
        }
    }
}
