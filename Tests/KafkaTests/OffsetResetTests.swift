import Testing

@testable import Kafka

/// librdkafka's "offset reset" warning (rdkafka_offset.c) read back into an `OffsetReset`.
@Suite struct OffsetResetTests {
    @Test func parsesTheWarningOfAnOutOfRangeFetch() throws {
        let reset = try #require(OffsetReset(logMessage:
            "impressions [3]: offset reset (at offset 1234, broker 1) to BEGINNING: fetch failed due to requested offset not available on the broker: Broker: Offset out of range"))
        #expect(reset.topic == "impressions")
        #expect(reset.partition == 3)
        #expect(reset.fromOffset == 1234)
        #expect(reset.to == "BEGINNING")
        #expect(reset.reason == "fetch failed due to requested offset not available on the broker: Broker: Offset out of range")
    }

    @Test func parsesACachedLogStartAndAnUnknownOffset() throws {
        let cached = try #require(OffsetReset(logMessage:
            "my.topic [0]: offset reset (at offset 0, broker 2) to cached BEGINNING offset 4500: fetch failed due to requested offset not available on the broker: Broker: Offset out of range"))
        #expect(cached.topic == "my.topic")
        #expect(cached.fromOffset == 0)
        #expect(cached.to == "BEGINNING offset 4500")
        let invalid = try #require(OffsetReset(logMessage:
            "t [11]: offset reset (at offset INVALID, broker -1) to END: no previously committed offset available: Local: No offset stored"))
        #expect(invalid.partition == 11)
        #expect(invalid.fromOffset == nil)
        #expect(invalid.to == "END")
    }

    @Test func otherLinesAreNotResets() {
        #expect(OffsetReset(logMessage: "impressions [3]: fetch failed: Broker: Not leader for partition") == nil)
        #expect(OffsetReset(logMessage: "") == nil)
        #expect(OffsetReset(logMessage: "offset reset (at offset 1, broker 1) to END: x: y") == nil)
    }
}
