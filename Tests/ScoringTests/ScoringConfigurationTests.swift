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

/// Exactly-once settings: a transactional producer named after the instance, inputs read
/// read_committed, and nothing of it taken from `-X`.
@Suite struct ExactlyOnceSettingsTests {
    func property(_ config: KafkaConfig, _ name: String, consumer: Bool) -> String? {
        config.librdkafkaProperties(forConsumer: consumer).first { $0.name == name }?.value
    }

    @Test func atLeastOnceByDefaultWithNoTransactions() {
        let configuration = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092"))
        #expect(configuration.guarantee == .atLeastOnce)
        #expect(property(configuration.producerConfig, "transactional.id", consumer: false) == nil)
        #expect(ScoringConfiguration.Guarantee.allCases.map(\.rawValue) == ["at-least-once", "exactly-once"])
    }

    @Test func theTransactionalIDFollowsTheInstanceID() throws {
        var configuration = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092"))
        configuration.guarantee = .exactlyOnce
        configuration.group = "scorer-eu"
        #expect(configuration.stableTransactionalID == nil)  // random per process then
        configuration.instanceID = "scorer-1"
        #expect(configuration.stableTransactionalID == "scorer-scorer-eu-scorer-1")
        let producer = configuration.transactionalProducerConfig(transactionalID: "scorer-scorer-eu-scorer-1")
        #expect(property(producer, "transactional.id", consumer: false) == "scorer-scorer-eu-scorer-1")
        #expect(property(producer, "transaction.timeout.ms", consumer: false) == "10000")
        #expect(property(producer, "enable.idempotence", consumer: false) == "true")
        #expect(property(configuration.consumerConfig, "isolation.level", consumer: true) == "read_committed")
        // librdkafka accepts the pair (checked when the clients are made; no broker needed).
        #expect(throws: Never.self) { _ = try KafkaProducer(config: producer) }
        try configuration.validate()
    }

    @Test func aLongerTransactionTimeoutFromDashXWins() {
        var configuration = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092", properties: ["transaction.timeout.ms": "60000"]))
        configuration.guarantee = .exactlyOnce
        #expect(property(configuration.transactionalProducerConfig(transactionalID: "t"), "transaction.timeout.ms", consumer: false) == "60000")
    }

    @Test func transactionsAreNotSetUpThroughDashX() {
        let named = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092", properties: ["transactional.id": "mine"]))
        #expect(throws: ScoringError.self) { try named.validate() }
        var uncommitted = ScoringConfiguration(kafka: KafkaConfig(bootstrapServers: "localhost:9092", properties: ["isolation.level": "read_uncommitted"]))
        #expect(throws: Never.self) { try uncommitted.validate() }  // fine at least once
        uncommitted.guarantee = .exactlyOnce
        #expect(throws: ScoringError.self) { try uncommitted.validate() }
    }
}
