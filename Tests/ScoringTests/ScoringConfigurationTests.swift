import Kafka
import Testing

@testable import Scoring

/// The scorer's consumer settings: a small prefetch by default, a `-X` setting wins.
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
}
