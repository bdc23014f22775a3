import Testing
@testable import Kafka

@Suite struct KafkaSmokeTests {
    @Test func moduleLoads() { #expect(Bool(true)) }
}
