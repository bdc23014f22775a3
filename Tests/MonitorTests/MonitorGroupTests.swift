import Foundation
import Kafka
import TestBrokers
import Testing
@testable import Monitor

/// The monitor against a Kafka-protocol broker (the mock cluster, or Tansu with SCORER_TEST_BROKER=tansu).
@Suite(.serialized, .timeLimit(.minutes(4)))
struct MonitorGroupTests {
    static let partitions = 4

    static func makeCluster() throws -> TestBroker {
        let cluster = try TestBroker()
        try cluster.createTopic("predictions", partitions: partitions)
        try cluster.createTopic("installs", partitions: partitions)
        return cluster
    }

    /// Produces every sample's prediction, a duplicate of every 50th, and the outcomes of all but a
    /// tenth of the negatives, keyed by id (same key, same partition number on both topics).
    static func produce(_ samples: [Sample], config: KafkaConfig) throws {
        let producer = try KafkaProducer(config: config)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (index, sample) in samples.enumerated() {
            let key = Array(sample.id.utf8)
            try producer.produce(topic: "predictions", key: key, value: predictionJSON(sample, scoredAt: now), timestampMs: now)
            if index % 50 == 0 {
                try producer.produce(topic: "predictions", key: key, value: predictionJSON(sample, scoredAt: now), timestampMs: now)
            }
        }
        for (index, sample) in samples.enumerated() where sample.installed || index % 10 != 3 {
            try producer.produce(
                topic: "installs", key: Array(sample.id.utf8),
                value: outcomeJSON(id: sample.id, installed: sample.installed, ts: now + 1), timestampMs: now + 1)
        }
        try producer.flush(timeoutMs: 30_000)
        _ = producer.pollDeliveries()
    }

    /// Runners in `group`, started and waited for until together they hold every partition of both topics.
    static func startRunners(_ count: Int, group: String, cluster: TestBroker) async throws -> [MonitorRunner] {
        var config = cluster.config
        config.groupID = group
        let runners = try (0..<count).map { _ in
            try MonitorRunner(
                kafka: config, settings: MonitorSettings(joinWindowMs: 3000, windowsMs: [300_000]), snapshotIntervalMs: 100)
        }
        runners.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let held = runners.map(\.assigned)
            if held.allSatisfy({ !$0.isEmpty }), held.reduce(0, { $0 + $1.count }) == 2 * partitions,
                Set(held.flatMap { $0 }).count == 2 * partitions
            {
                return runners
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        runners.forEach { $0.stop() }
        throw TestBrokerError("the group never assigned all partitions: \(runners.map(\.assigned))")
    }

    /// Waits until the runners' lifetime totals add up to `expected` labels (or 60 s pass).
    static func totals(_ runners: [MonitorRunner], expected: Int) async throws -> [ModelKey: OutcomeMonitor.Totals] {
        let deadline = Date().addingTimeInterval(60)
        var merged: [ModelKey: OutcomeMonitor.Totals] = [:]
        while Date() < deadline {
            merged = [:]
            for runner in runners {
                for model in runner.snapshot?.models ?? [] {
                    merged[model.key, default: .init()].count += model.lifetime.count
                    merged[model.key, default: .init()].positives += model.lifetime.positives
                    merged[model.key, default: .init()].sumP += model.lifetime.sumP
                }
            }
            if merged.values.reduce(0, { $0 + $1.count }) >= expected { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        // Settle: nothing more may arrive.
        try await Task.sleep(nanoseconds: 500_000_000)
        return merged
    }

    @Test func oneMonitorJoinsTheTopicsAndTwoInOneGroupReportTheSameTotals() async throws {
        let cluster = try Self.makeCluster()
        let samples = makeSamples(8000, seed: 7)

        let single = try await Self.startRunners(1, group: "monitor-one", cluster: cluster)
        let pair = try await Self.startRunners(2, group: "monitor-two", cluster: cluster)
        defer { (single + pair).forEach { $0.stop() } }
        // Each of the pair holds the same partition numbers of both topics (a local join).
        for runner in pair {
            let held = runner.assigned
            #expect(Set(held.filter { $0.topic == "predictions" }.map(\.partition))
                == Set(held.filter { $0.topic == "installs" }.map(\.partition)))
        }
        try Self.produce(samples, config: cluster.config)

        let one = try await Self.totals(single, expected: samples.count)
        let two = try await Self.totals(pair, expected: samples.count)
        #expect(one.values.reduce(0) { $0 + $1.count } == samples.count)
        #expect(Set(one.keys) == Set(two.keys))
        for (key, total) in one {
            let other = try #require(two[key])
            #expect(total.count == other.count && total.positives == other.positives)
            #expect(abs(total.sumP - other.sumP) <= 1e-9 * Double(total.count))
            // And both equal the data: every prediction once (duplicates ignored), its own label.
            let mine = samples.filter { $0.model == key.model }
            #expect(total.count == mine.count)
            #expect(total.positives == mine.filter(\.installed).count)
            #expect(abs(total.sumP - mine.map { publishedP($0.p) }.reduce(0, +)) <= 1e-9 * Double(mine.count))
        }
        let counters = single[0].snapshot?.counters
        #expect(counters?.duplicatePredictions == samples.count / 50)
        #expect(counters?.expiredNegatives == samples.enumerated().filter { !$0.element.installed && $0.offset % 10 == 3 }.count)
        #expect(counters?.malformedPredictions == 0 && counters?.unmatchedOutcomes == 0)

        // The windowed metrics of the single monitor equal the offline computation.
        let snapshot = try #require(single[0].snapshot)
        for model in snapshot.models {
            let offline = OfflineMetrics(samples.filter { $0.model == model.key.model }.map { (publishedP($0.p), $0.installed) })
            let stats = model.windows[0].stats
            #expect(stats.count == offline.count)
            #expect(abs(stats.meanP - offline.meanP) <= 1e-9 && abs(stats.logLoss - offline.logLoss) <= 1e-9)
            #expect(abs(stats.brier - offline.brier) <= 1e-9 && abs(stats.auc - offline.auc) <= 0.005)
        }
        let metrics = MonitorText.prometheus(snapshot, lag: 0)
        #expect(metrics.contains("scorer_monitor_calibration_ratio{model=\"biased@00ff00ff\",variant=\"canary\",window=\"5m\"}"))
    }
}
