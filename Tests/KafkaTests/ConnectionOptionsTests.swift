import ArgumentParser
import Foundation
import Kafka
import KafkaOptions
import Testing

@Suite("KafkaConnectionOptions (--brokers, SCORER_BROKERS, -X)")
struct ConnectionOptionsTests {
    @Test("--brokers @FILE reads a bootstrap file written by 'scorer broker' and selects the development preset")
    func bootstrapFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("brokers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try KafkaConnectionOptions.bootstrapFileContents(bootstrapServers: "127.0.0.1:4242", developmentCluster: true)
            .write(toFile: path, atomically: true, encoding: .utf8)
        let options = try KafkaConnectionOptions.parse(["--brokers", "@\(path)", "-X", "client.rack=r1"])
        let config = try options.makeConfig(groupID: "g", forConsumer: true, environment: [:])
        #expect(config.bootstrapServers == "127.0.0.1:4242")
        #expect(config.properties["client.rack"] == "r1")
        #expect(config.consumerProperties["queued.min.messages"] == KafkaConfig.developmentClusterProperties["queued.min.messages"])
        let plain = try KafkaConnectionOptions.parse(["--brokers", "@\(path)", "--broker-profile", "kafka"])
        #expect(try plain.makeConfig(environment: [:]).consumerProperties.isEmpty)
    }

    @Test("SCORER_BROKERS is used when --brokers is absent; neither is a clear error")
    func environmentFallback() throws {
        let options = try KafkaConnectionOptions.parse([])
        #expect(try options.makeConfig(environment: ["SCORER_BROKERS": "h:1,h:2"]).bootstrapServers == "h:1,h:2")
        let error = #expect(throws: ValidationError.self) { try options.makeConfig(environment: [:]) }
        #expect(error?.message.contains("SCORER_BROKERS") == true)
        let missingFile = try KafkaConnectionOptions.parse(["--brokers", "@/nonexistent/brokers"])
        let fileError = #expect(throws: ValidationError.self) { try missingFile.makeConfig(environment: [:]) }
        #expect(fileError?.message.contains("/nonexistent/brokers") == true)
    }

    @Test("-X must be key=value and name a real librdkafka property")
    func librdkafkaProperties() throws {
        let malformed = try KafkaConnectionOptions.parse(["--brokers", "h:1", "-X", "linger.ms"])
        #expect(throws: ValidationError.self) { try malformed.makeConfig(environment: [:]) }
        let unknown = try KafkaConnectionOptions.parse(["--brokers", "h:1", "-X", "lingr.ms=5"])
        let error = #expect(throws: KafkaError.self) { try unknown.makeConfig(environment: [:]) }
        #expect(error?.description.contains("lingr.ms") == true)
        let valid = try KafkaConnectionOptions.parse(["--brokers", "h:1", "-X", "linger.ms=5", "-X", "security.protocol=plaintext"])
        #expect(try valid.makeConfig(environment: [:]).properties == ["linger.ms": "5", "security.protocol": "plaintext"])
    }
}
