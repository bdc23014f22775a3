import Foundation
import Testing
@testable import Scoring

/// `scorer score --events` scoring in chunks on several threads: the same lines in input order
/// whatever the thread count, each event's `p` what the service computes, bad events reported
/// with their line.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct OfflineScoringTests {
    static let bundlePath = ScorerProcess.packageRoot.appendingPathComponent("models/install-v1").path

    @Test func threadCountsGiveTheSameLinesInInputOrder() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("offline-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Several chunks' worth of events, with malformed ones (one line each) spread among them.
        let bad = TestEvents.malformed.map(\.event).filter { event in event.value.map { !$0.contains(0x0A) && !$0.isEmpty } ?? false }
        try #require(!bad.isEmpty)
        var events = TestEvents.valid(9_000, prefix: "offline")
        var badLines: [Int] = []
        for (index, event) in bad.enumerated() {
            events.insert(event, at: (index + 1) * events.count / (bad.count + 1))
        }
        for (index, event) in events.enumerated() where bad.contains(where: { $0.value == event.value }) { badLines.append(index + 1) }
        let input = directory.appendingPathComponent("events.jsonl")
        try TestEvents.writeJSONLines(events, to: input)

        var outputs: [[String]] = []
        for threads in [1, 2, 3] {
            let printed = directory.appendingPathComponent("out-\(threads).jsonl")
            let score = try ScorerProcess(
                ["score", "--events", input.path, "--model", Self.bundlePath, "--output", printed.path, "--threads", "\(threads)"],
                name: "score-\(threads)", directory: directory)
            // Exit status 1: some events could not be scored.
            #expect(await score.waitForExit(timeout: .seconds(60)) == 1, "\(score.log)")
            for line in badLines { #expect(score.log.contains("\(input.path):\(line): "), "line \(line) reported with \(threads) threads") }
            let lines = try String(contentsOf: printed, encoding: .utf8).split(separator: "\n").map { line in
                // scored_at is the wall clock: the rest must be identical.
                String(line.replacing(/"scored_at":[0-9]+/, with: "\"scored_at\":0"))
            }
            outputs.append(lines)
        }
        let expectedCount = events.count - badLines.count
        #expect(outputs[0].count == expectedCount)
        #expect(outputs[1] == outputs[0], "2 threads")
        #expect(outputs[2] == outputs[0], "3 threads")

        // In input order, each with the p the service computes for the event.
        let offline = try OfflineScorer(bundlePath: Self.bundlePath)
        let good = events.filter { event in !bad.contains { $0.value == event.value } }
        var mismatches = 0
        for (event, line) in zip(good, outputs[0]) {
            let output = Output(topic: "offline", key: nil, value: Array(line.utf8), headers: [:])
            if output.json["id"] as? String != event.key || output.printedP != offline.printedP(event.value!) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// A bundle holding a LightGBM model.txt (Tests/ModelBundlesTests/Fixtures/install-lgbm):
    /// `scorer score --events` prints, for its reference events, exactly the probabilities LightGBM
    /// gave them (the float32 bits in reference.jsonl), in input order, labelled with its identity.
    @Test func aLightGBMBundlePrintsLightGBMsProbabilities() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("offline-lgbm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let bundle = ScorerProcess.packageRoot.appendingPathComponent("Tests/ModelBundlesTests/Fixtures/install-lgbm").path
        let text = try String(contentsOfFile: bundle + "/reference.jsonl", encoding: .utf8)
        var raws: [String] = [], expected: [(id: String, bits: UInt32)] = []
        for line in text.split(separator: "\n") {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            // Some reference events are pretty-printed: one line each here (JSON whitespace only).
            let raw = try #require(record["raw"] as? String)
            raws.append(String(String.UnicodeScalarView(raw.unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : $0 })))
            expected.append((try #require(record["id"] as? String), (try #require(record["p_bits"] as? NSNumber)).uint32Value))
        }
        try #require(raws.count >= 100)
        let input = directory.appendingPathComponent("events.jsonl")
        try Data((raws.joined(separator: "\n") + "\n").utf8).write(to: input)
        let printed = directory.appendingPathComponent("out.jsonl")
        let score = try ScorerProcess(
            ["score", "--events", input.path, "--model", bundle, "--output", printed.path], name: "score-lgbm", directory: directory)
        #expect(await score.waitForExit(timeout: .seconds(60)) == 0, "\(score.log)")
        let lines = try String(contentsOf: printed, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count == expected.count)
        var mismatches: [String] = []
        for (line, (id, bits)) in zip(lines, expected) {
            let output = Output(topic: "offline", key: nil, value: Array(line.utf8), headers: [:])
            let p = output.printedP.flatMap { Float($0) }
            if output.json["id"] as? String != id || p?.bitPattern != bits { mismatches.append(line) }
            #expect((output.json["model"] as? String)?.hasPrefix("install-lgbm@") == true)
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
    }
}
