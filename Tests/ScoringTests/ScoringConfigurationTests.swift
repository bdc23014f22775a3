import Kafka
import Testing

@testable import Scoring

/// The scorer's consumer settings: a small prefetch and fetch responses by default; a `-X` setting wins.
@Suite struct ScoringConsumerSettingsTests {
    @Test func prefetchIsSmallUnlessSetExplicitly() {
        func prefetch(_ config: KafkaConfig) -> String? {
            ScoringConfiguration(kafka: config).consumerConfig.librdkafkaProperties(forConsumer: true)
                .first { $0.name == "queued.min.messages" }?.value
        }
        #expect(prefetch(KafkaConfig(bootstrapServers: "localhost:9092")) == "50000")
        #expect(prefetch(KafkaConfig.developmentCluster(bootstrapServers: "localhost:9092")) == "50000")
        var explicit = KafkaConfig.developmentCluster(bootstrapServers: "localhost:9092")
        explicit.properties["queued.min.messages"] = "7000"  // -X queued.min.messages=7000
        #expect(prefetch(explicit) == "7000")
        var library = KafkaConfig(bootstrapServers: "localhost:9092")
        library.consumerProperties["queued.min.messages"] = "9000"
        #expect(prefetch(library) == "9000")
    }

    @Test func fetchResponsesStaySmallUnlessSetExplicitly() {
        func responseLimit(_ config: KafkaConfig) -> String? {
            ScoringConfiguration(kafka: config).consumerConfig.librdkafkaProperties(forConsumer: true)
                .first { $0.name == "fetch.max.bytes" }?.value
        }
        #expect(responseLimit(KafkaConfig.developmentCluster(bootstrapServers: "localhost:9092")) == "4194304")
        var explicit = KafkaConfig(bootstrapServers: "localhost:9092")
        explicit.properties["fetch.max.bytes"] = "52428800"
        #expect(responseLimit(explicit) == "52428800")
        // Never below message.max.bytes (librdkafka would refuse the consumer).
        var largeMessages = KafkaConfig(bootstrapServers: "localhost:9092")
        largeMessages.properties["message.max.bytes"] = "10000000"
        #expect(responseLimit(largeMessages) == "10000000")
        // librdkafka checks the pair when the client is created (no broker needed for that).
        #expect(throws: Never.self) { _ = try KafkaConsumer(config: ScoringConfiguration(kafka: largeMessages).consumerConfig) }
        // Only the consumer gets it.
        #expect(!ScoringConfiguration(kafka: explicit).producerConfig.librdkafkaProperties(forConsumer: false)
            .contains { $0.name == "fetch.max.bytes" })
    }
}

/// Group membership settings: range by default (cooperative-sticky on request), static membership on request.
@Suite struct GroupMembershipSettingsTests {
    func consumerProperty(_ configuration: ScoringConfiguration, _ name: String) -> String? {
        configuration.consumerConfig.librdkafkaProperties(forConsumer: true).first { $0.name == name }?.value
    }

    @Test func cooperativeStickyByDefaultAndTheOthersOnRequest() throws {
        var configuration = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092"))
        #expect(consumerProperty(configuration, "partition.assignment.strategy") == "cooperative-sticky")
        #expect(consumerProperty(configuration, "group.instance.id") == nil)
        for assignor in ScoringConfiguration.Assignor.allCases {
            configuration.assignor = assignor
            #expect(consumerProperty(configuration, "partition.assignment.strategy") == assignor.rawValue)
            // librdkafka accepts each (checked when a client is made; no broker needed).
            #expect(throws: Never.self) { _ = try KafkaConsumer(config: configuration.consumerConfig) }
        }
        #expect(ScoringConfiguration.Assignor.allCases.map(\.rawValue) == ["cooperative-sticky", "range", "roundrobin"])
    }

    @Test func staticMembershipSetsTheInstanceIDOfTheConsumerOnly() throws {
        var configuration = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092"))
        configuration.instanceID = "scorer-2"
        #expect(consumerProperty(configuration, "group.instance.id") == "scorer-2")
        #expect(!configuration.producerConfig.librdkafkaProperties(forConsumer: false).contains { $0.name == "group.instance.id" })
        try configuration.validate()
        configuration.instanceID = ""
        #expect(throws: ScoringError.self) { try configuration.validate() }
    }

    @Test func theGroupSettingsAreNotTakenFromDashX() {
        for property in ["partition.assignment.strategy", "group.instance.id"] {
            let configuration = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092", properties: [property: "range"]))
            #expect(throws: ScoringError.self) { try configuration.validate() }
        }
    }
}
