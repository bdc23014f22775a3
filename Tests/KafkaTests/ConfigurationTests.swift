import Foundation
import Testing

@testable import Kafka

@Suite("Configuration and errors")
struct ConfigurationTests {
    @Test("An unknown property is rejected at client creation, naming it")
    func unknownProperty() {
        var config = KafkaConfig(bootstrapServers: "127.0.0.1:9")
        config.properties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) { try KafkaProducer(config: config) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.description.contains("no.such.property") == true)
    }

    @Test("An invalid value is rejected, naming the property and the value")
    func invalidValue() {
        var config = KafkaConfig(bootstrapServers: "127.0.0.1:9")
        config.groupID = "g"
        config.properties["session.timeout.ms"] = "soon"
        let error = #expect(throws: KafkaError.self) { try KafkaConsumer(config: config) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.description.contains("session.timeout.ms") == true)
        #expect(error?.description.contains("soon") == true)
        #expect(throws: KafkaError.self) { try config.validate(forConsumer: true) }
    }

    @Test("Typed fields map to librdkafka properties; pass-through properties win")
    func typedFieldsAndPassThrough() throws {
        var config = KafkaConfig(bootstrapServers: "b:1")
        config.acks = .all
        config.lingerMs = 7
        config.compression = .lz4
        config.idempotence = true
        config.fetchWaitMaxMs = 3
        config.properties["linger.ms"] = "9"
        let producer = Dictionary(uniqueKeysWithValues: config.librdkafkaProperties(forConsumer: false).map { ($0.name, $0.value) })
        #expect(producer["acks"] == "all")
        #expect(producer["linger.ms"] == "9")
        #expect(producer["compression.codec"] == "lz4")
        #expect(producer["enable.idempotence"] == "true")
        #expect(producer["fetch.wait.max.ms"] == nil)
        let consumer = Dictionary(uniqueKeysWithValues: config.librdkafkaProperties(forConsumer: true).map { ($0.name, $0.value) })
        #expect(consumer["fetch.wait.max.ms"] == "3")
        #expect(consumer["enable.auto.commit"] == "false")
        #expect(consumer["enable.auto.offset.store"] == "false")
        try config.validate(forConsumer: true)
    }

    @Test("Pass-through properties reach only the kind of client librdkafka applies them to")
    func passThroughPropertiesAreRoutedByScope() throws {
        // The scopes come from the linked librdkafka's own property table.
        #expect(KafkaConfig.propertyScopes["fetch.wait.max.ms"] == .consumer)
        #expect(KafkaConfig.propertyScopes["linger.ms"] == .producer)
        #expect(KafkaConfig.propertyScopes["acks"] == .producer)  // a topic-table alias
        #expect(KafkaConfig.propertyScopes["socket.timeout.ms"] == .both)
        #expect(KafkaConfig.propertyScopes.count > 100)

        var config = KafkaConfig(bootstrapServers: "b:1")
        config.groupID = "g"
        config.properties = ["fetch.wait.max.ms": "0", "linger.ms": "0.5", "socket.timeout.ms": "7000"]
        let producer = Dictionary(uniqueKeysWithValues: config.librdkafkaProperties(forConsumer: false).map { ($0.name, $0.value) })
        let consumer = Dictionary(uniqueKeysWithValues: config.librdkafkaProperties(forConsumer: true).map { ($0.name, $0.value) })
        #expect(producer["fetch.wait.max.ms"] == nil && producer["group.id"] == nil)
        #expect(producer["linger.ms"] == "0.5" && producer["socket.timeout.ms"] == "7000")
        #expect(consumer["fetch.wait.max.ms"] == "0" && consumer["group.id"] == "g")
        #expect(consumer["linger.ms"] == nil && consumer["socket.timeout.ms"] == "7000")
        _ = try KafkaProducer(config: config)
        _ = try KafkaConsumer(config: config)

        // A misspelt name has no scope: every client gets it and rejects it by name.
        config.properties["fetch.wait.max.msec"] = "0"
        let error = #expect(throws: KafkaError.self) { try KafkaProducer(config: config) }
        #expect(error?.description.contains("fetch.wait.max.msec") == true)
    }

    @Test("The property table parser reads both tables and merges differing scopes")
    func propertyTableParsing() {
        let table = """
            ## Global configuration properties

            Property                                 | C/P | Range           |       Default | Importance | Description
            -----------------------------------------|-----|-----------------|--------------:|------------| ---
            client.id                                |  *  |                 |       rdkafka | low        | Client identifier. <br>*Type: string*
            fetch.wait.max.ms                        |  C  | 0 .. 300000     |           500 | low        | Maximum time | with a bar
            compression.codec                        |  P  | none, gzip      |          none | medium     | codec
            ## Topic configuration properties
            compression.codec                        |  C  | none, gzip      |       inherit | high       | codec
            ### C/P legend: C = Consumer, P = Producer, * = both
            """
        let scopes = KafkaConfig.parsePropertyScopes(table)
        #expect(scopes == ["client.id": .both, "fetch.wait.max.ms": .consumer, "compression.codec": .both])
    }

    @Test("The development-cluster preset is consumer-only and keeps explicit settings")
    func developmentClusterPreset() {
        var config = KafkaConfig(bootstrapServers: "b:1")
        config.fetchWaitMaxMs = 50
        config.applyDevelopmentClusterPreset()
        let consumer = Dictionary(uniqueKeysWithValues: config.librdkafkaProperties(forConsumer: true).map { ($0.name, $0.value) })
        #expect(consumer["fetch.wait.max.ms"] == "50")
        #expect(consumer["queued.min.messages"] == "200000")
        let producer = config.librdkafkaProperties(forConsumer: false).map(\.name)
        #expect(!producer.contains("queued.min.messages"))
    }

    @Test("A subscribe without a group id, or with an empty one, is refused")
    func groupRequiredForSubscribe() throws {
        let consumer = try KafkaConsumer(config: KafkaConfig(bootstrapServers: "127.0.0.1:9"))
        #expect(throws: KafkaError.self) { try consumer.subscribe(topics: ["t"]) }
        var config = KafkaConfig(bootstrapServers: "127.0.0.1:9")
        config.groupID = ""
        #expect(throws: KafkaError.self) { try KafkaConsumer(config: config) }
    }

    @Test("'Read underflow' from librdkafka older than 2.2 is diagnosed as the KRaft incompatibility")
    func kraftDiagnosis() {
        let text = "127.0.0.1:9092/bootstrap: ApiVersionRequest failed: Local: Read underflow: probably due to broker version < 0.10"
        let error = KafkaError.librdkafka(rawCode: -195, text)  // -195: RD_KAFKA_RESP_ERR__TRANSPORT
        if KafkaError.librdkafkaMisparsesKRaftApiVersions {
            #expect(error.code == .brokerIncompatible)
            #expect(error.description.contains("2.2"))
            #expect(error.description.contains(KafkaError.librdkafkaVersion))
            #expect(error.isFatal)
        } else {
            #expect(error.code == .brokerUnreachable)
        }
        #expect(KafkaError.kraftDiagnosis(for: "Connection refused") == nil)
    }

    @Test("Error descriptions are one line")
    func oneLineDescriptions() {
        let error = KafkaError(code: .librdkafka, message: "first\nsecond\r\nthird")
        #expect(!error.description.contains("\n"))
        #expect(!error.description.contains("\r"))
    }
}
