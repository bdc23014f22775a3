import Features
import Forest
import Foundation
import Kafka
import TestBrokers
import Testing
@testable import Scoring

/// `scorer run --explain K` against the development cluster over TCP: every prediction's
/// `"reasons"` are what `scorer score --features-csv --top K` prints for the event's feature row.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ExplanationTests {
    static let bundlePath = ScorerProcess.packageRoot.appendingPathComponent("models/install-v1").path
    let suite = ScoringServiceTests()

    @Test func reasonsEqualScorerScoreTopKForTheSameEvents() async throws {
        let top = 3
        let cluster = try TestCluster()
        let events = TestEvents.valid(1_500, prefix: "explain")
        try await cluster.produce(events)
        let outputs = try await suite.withService(cluster, configure: { $0.explainTop = top }) { _ in
            try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
        }
        #expect(outputs.count == events.count)
        #expect(outputs.allSatisfy { $0.isPrediction })

        // The same events' feature rows, featurized here, explained by the scorer process.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("explain-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let offline = try OfflineScorer(bundlePath: Self.bundlePath)
        var csv = ""
        for event in events {
            let (row, _) = try offline.featurizer.featurize(try #require(event.value))
            csv += row.map { $0.isNaN ? "" : $0.description }.joined(separator: ",") + "\n"
        }
        let rowsPath = directory.appendingPathComponent("rows.csv")
        let printedPath = directory.appendingPathComponent("reasons.jsonl")
        try csv.write(to: rowsPath, atomically: true, encoding: .utf8)
        let score = try ScorerProcess(
            ["score", "--model", Self.bundlePath, "--features-csv", rowsPath.path, "--top", "\(top)", "--output", printedPath.path],
            name: "score", directory: directory)
        #expect(await score.waitForExit(timeout: .seconds(60)) == 0, "\(score.log)")
        let lines = try String(contentsOf: printedPath, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count == events.count)
        var expected: [String: String] = [:]
        for (event, line) in zip(events, lines) { expected[event.key!] = line }

        var full = 0
        for output in outputs {
            let key = try #require(output.key)
            let reasons = try #require(output.printedReasons, "no reasons in \(String(decoding: output.value, as: UTF8.self))")
            #expect(reasons == expected[key], "reasons of \(key)")
            let parsed = try #require(output.json["reasons"] as? [[String: Any]])
            #expect(parsed.count <= top)
            if parsed.count == top { full += 1 }
            #expect(parsed.allSatisfy { $0["feature"] is String && $0["contribution"] is NSNumber })
        }
        // install-v1 splits on many features: most rows have K non-zero contributions.
        #expect(full > events.count / 2, "\(full) of \(events.count) predictions have \(top) reasons")
    }

    @Test func withoutExplainThereAreNoReasons() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(200, prefix: "plain")
        try await cluster.produce(events)
        let outputs = try await suite.withService(cluster) { _ in
            try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
        }
        #expect(outputs.count == events.count)
        #expect(outputs.allSatisfy { $0.json["reasons"] == nil && $0.isPrediction })
    }
}

extension Output {
    /// The `"reasons"` array exactly as printed.
    var printedReasons: String? {
        let text = String(decoding: value, as: UTF8.self)
        guard let start = text.range(of: "\"reasons\":"), let end = text.range(of: ",\"scored_at\":") else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }
}
