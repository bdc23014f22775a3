import Foundation
import Kafka
import Testing
@testable import Scoring

/// Outputs that do not fit in a Kafka message never stop the service or stall their partition:
/// they are published as cut-down dead letters, and everything around them is scored as usual.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct OversizeOutputTests {
    /// An event just under 1 MB: the broker takes it, but its dead letter (the original bytes plus
    /// `error` and `source.*` headers) is over the producer's `message.max.bytes`. It used to stop
    /// `scorer run` ("Message size too large") without committing, so every restart met it again.
    @Test func anEventWhoseDeadLetterDoesNotFitIsCutDownAndTheStreamKeepsFlowing() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        let big = TestEvent(key: "big-1", value: Self.paddedEvent(id: "big-1", bytes: 999_880))
        let events = TestEvents.valid(50, prefix: "before") + [big] + TestEvents.valid(50, prefix: "after", seed: 7)
        try await cluster.produce(events)

        let outputs = try await ScoringServiceTests().withService(cluster) { service in
            let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
            let metrics = service.metrics.render()
            #expect(metrics.contains("scorer_outputs_truncated_total{cause=\"producer_limit\"} 1"), "\(metrics)")
            return outputs
        }
        #expect(outputs.count == events.count, "one output per event")
        #expect(outputs.filter(\.isPrediction).count == 100)
        let letter = try #require(outputs.first { $0.key == "big-1" })
        #expect(!letter.isPrediction)
        #expect(letter.headers["truncated"] == "true")
        #expect(letter.headers["original.size"] == "999880")
        #expect(letter.headers["error"]?.contains("65536") == true, "the reason stays the featurizer's: \(letter.headers["error"] ?? "none")")
        #expect(letter.headers["source.offset"] == "50")
        #expect(letter.value.count > 900_000 && letter.value.count < 999_880)
        #expect(letter.value == Array(big.value!.prefix(letter.value.count)), "the cut-down value is a prefix of the event")

        // Committed past it: a restart does not meet it again.
        let (committed, end) = try await cluster.committedAndEnd(group: "scorer")
        #expect(committed[0] == end[0])
    }

    /// A prediction whose input key is huge does not fit either: it becomes a dead letter with the
    /// key cut to 1 KiB, and says why.
    @Test func aPredictionWithAHugeKeyBecomesACutDownDeadLetter() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        var huge = TestEvents.valid(1, prefix: "huge")[0]
        huge.key = String(repeating: "k", count: 600_000)
        let events = TestEvents.valid(10, prefix: "a") + [huge] + TestEvents.valid(10, prefix: "b", seed: 3)
        try await cluster.produce(events)

        // The service's producer takes at most 500 kB per message.
        let outputs = try await ScoringServiceTests().withService(cluster, properties: ["message.max.bytes": "500000"]) { service in
            let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
            // Counted as what was published.
            #expect(service.stats().deadLetters == 1)
            #expect(service.stats().predictionsOut == 20)
            return outputs
        }
        #expect(outputs.count == events.count)
        let letter = try #require(outputs.first { $0.headers["original.key.size"] != nil })
        #expect(!letter.isPrediction)
        #expect(letter.headers["original.key.size"] == "600000")
        #expect(letter.key?.utf8.count == OversizeOutputs.keptKeyBytes)
        #expect(letter.headers["error"]?.contains("does not fit") == true)
        #expect(letter.headers["source.offset"] == "10")
        #expect(letter.json["id"] as? String == "huge-0", "the value is the prediction")
    }

    /// The broker itself refuses outputs as too large (its topic limit is below the producer's):
    /// every refused output becomes a cut-down dead letter, nothing is lost, the service runs on.
    @Test func outputsTheBrokerRefusesAsTooLargeBecomeDeadLetters() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        let events = TestEvents.valid(400)
        try await cluster.produce(events)
        // MESSAGE_TOO_LARGE (10) on the next two Produce requests: the service's first outputs.
        try cluster.cluster.failNextRequests(apiKey: 0, withErrors: [10, 10])

        let outputs = try await ScoringServiceTests().withService(cluster) { service in
            let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
            let metrics = service.metrics.render()
            #expect(metrics.contains("scorer_outputs_truncated_total{cause=\"broker_refused\"}"), "\(metrics)")
            return outputs
        }
        let sources = Set(outputs.map(\.source))
        #expect(sources.count == events.count, "exactly one output per input offset")
        #expect(outputs.count == events.count)
        let refused = outputs.filter { $0.headers["truncated"] == "true" }
        #expect(!refused.isEmpty)
        for letter in refused {
            #expect(!letter.isPrediction)
            #expect(letter.headers["error"]?.contains("does not fit") == true)
        }
        let (committed, end) = try await cluster.committedAndEnd(group: "scorer")
        #expect(committed[0] == end[0])
    }

    /// A valid event padded with an ignored field to exactly `bytes` bytes.
    static func paddedEvent(id: String, bytes: Int) -> [UInt8] {
        let head = "{\"id\":\"\(id)\",\"platform\":\"ios\",\"pad\":\""
        let tail = "\"}"
        return Array((head + String(repeating: "x", count: bytes - head.utf8.count - tail.utf8.count) + tail).utf8)
    }
}
