import Foundation
import Testing
@testable import Monitor

@Suite struct JoinTests {
    static let window: Int64 = 60_000
    static func monitor(capacity: Int = 1000) -> OutcomeMonitor {
        OutcomeMonitor(settings: MonitorSettings(joinWindowMs: window, maxPendingPerPartition: capacity, windowsMs: [600_000]))
    }
    static func sample(_ id: String, p: Double = 0.2) -> Sample {
        Sample(id: id, p: p, installed: false, model: "m@1", variant: "primary")
    }
    static func stats(_ monitor: OutcomeMonitor, at now: Int64) throws -> CalibrationStats {
        try #require(monitor.snapshot(nowMs: now).models.first?.windows.first?.stats)
    }

    @Test func exactlyOneOutcomePerIDTheFirstCounts() throws {
        let monitor = Self.monitor()
        monitor.prediction(Self.sample("a"), atMs: 1000)
        monitor.outcome(id: "a", installed: true, atMs: 2000)
        monitor.outcome(id: "a", installed: false, atMs: 2500)
        monitor.outcome(id: "a", installed: true, atMs: 3000)
        let stats = try Self.stats(monitor, at: 3000)
        #expect(stats.count == 1)
        #expect(stats.positives == 1)
        #expect(monitor.counters.joined == 1)
        #expect(monitor.counters.duplicateOutcomes == 2)
    }

    @Test func outcomeBeforeItsPredictionJoins() throws {
        let monitor = Self.monitor()
        monitor.outcome(id: "a", installed: true, atMs: 1000)
        monitor.prediction(Self.sample("a", p: 0.7), atMs: 1500)
        let stats = try Self.stats(monitor, at: 2000)
        #expect(stats.count == 1 && stats.positives == 1)
        #expect(stats.meanP == publishedP(0.7))
        #expect(monitor.counters.joined == 1 && monitor.pendingCount == 1)  // kept as resolved, for duplicates
    }

    @Test func windowExpiryIsANegativeAndALateOutcomeChangesNothing() throws {
        let monitor = Self.monitor()
        monitor.prediction(Self.sample("a"), atMs: 1000)
        monitor.prediction(Self.sample("b"), atMs: 1000 + Self.window)  // moves the stream time: "a" expires
        #expect(monitor.counters.expiredNegatives == 1)
        var stats = try Self.stats(monitor, at: 1000 + Self.window)
        #expect(stats.count == 1 && stats.positives == 0)
        // The install arrives after the window: the prediction stays a negative; the outcome is unmatched.
        monitor.outcome(id: "a", installed: true, atMs: 2000 + Self.window)
        monitor.advance(toMs: 3000 + 3 * Self.window)
        stats = try Self.stats(monitor, at: 3000 + 3 * Self.window)
        #expect(stats.count == 2 && stats.positives == 0)  // "b" expired too
        #expect(monitor.counters.unmatchedOutcomes == 1)
        #expect(monitor.counters.joined == 0)
        #expect(monitor.pendingCount == 0)
    }

    @Test func anOutcomeJustInsideTheWindowStillJoins() throws {
        let monitor = Self.monitor()
        monitor.prediction(Self.sample("a"), atMs: 1000)
        monitor.outcome(id: "a", installed: true, atMs: 1000 + Self.window - 1)
        #expect(monitor.counters.joined == 1 && monitor.counters.expiredNegatives == 0)
    }

    @Test func duplicatedPredictionsCountOnce() throws {
        let monitor = Self.monitor()
        monitor.prediction(Self.sample("a"), atMs: 1000)
        monitor.prediction(Self.sample("a"), atMs: 1100)  // redelivered while pending
        monitor.outcome(id: "a", installed: true, atMs: 1200)
        monitor.prediction(Self.sample("a"), atMs: 1300)  // redelivered after the join
        monitor.prediction(Self.sample("a"), atMs: 1000 + Self.window - 1)  // the last moment it is recognised
        monitor.advance(toMs: 5 * Self.window)
        let stats = try Self.stats(monitor, at: 5 * Self.window)
        #expect(stats.count == 1 && stats.positives == 1)
        #expect(monitor.counters.duplicatePredictions == 3)
        #expect(monitor.counters.expiredNegatives == 0)
    }

    @Test func outcomesWithNoPredictionAreCountedNotScored() throws {
        let monitor = Self.monitor()
        monitor.outcome(id: "x", installed: true, atMs: 1000)
        monitor.outcome(id: "y", installed: false, atMs: 1000)
        monitor.advance(toMs: 1000 + Self.window)
        #expect(monitor.counters.unmatchedOutcomes == 2)
        #expect(monitor.snapshot(nowMs: 1000 + Self.window).models.isEmpty)
    }

    /// After a rebuild that starts at S, outcomes arriving before S + window may belong to
    /// predictions older than S: unmatched, they are not counted; later ones are.
    @Test func unmatchedOutcomesBeforeTheRebuildCutAreNotCounted() throws {
        let monitor = OutcomeMonitor(
            settings: MonitorSettings(joinWindowMs: Self.window, windowsMs: [600_000]), unmatchedFromMs: 5000)
        monitor.outcome(id: "x", installed: true, atMs: 4999)
        monitor.outcome(id: "y", installed: true, atMs: 5000)
        monitor.outcome(id: "z", installed: true, atMs: 5001)
        monitor.prediction(Self.sample("x"), atMs: 5100)  // still joins
        monitor.advance(toMs: 5001 + Self.window)
        #expect(monitor.counters.unmatchedOutcomes == 2)
        #expect(monitor.counters.joined == 1)
    }

    @Test func theMemoryCapEvictsTheOldestAndCountsIt() throws {
        let monitor = Self.monitor(capacity: 3)
        for (index, id) in ["a", "b", "c", "d", "e"].enumerated() {
            monitor.prediction(Self.sample(id), atMs: 1000 + Int64(index))
        }
        #expect(monitor.pendingCount == 3)
        #expect(monitor.counters.evictedPredictions == 2)
        monitor.outcome(id: "a", installed: true, atMs: 1100)  // evicted: unmatched, not joined
        monitor.outcome(id: "e", installed: true, atMs: 1100)
        #expect(monitor.counters.joined == 1)
    }

    @Test func partitionsJoinSeparatelyAndADroppedPartitionForgets() throws {
        let monitor = Self.monitor()
        monitor.prediction(Self.sample("a"), partition: 1, atMs: 1000)
        monitor.outcome(id: "a", installed: true, partition: 2, atMs: 1100)
        #expect(monitor.counters.joined == 0)
        monitor.dropPartition(1)
        monitor.outcome(id: "a", installed: true, partition: 1, atMs: 1200)
        #expect(monitor.counters.joined == 0)
        #expect(monitor.pendingCount == 2)
    }

    @Test func malformedMessagesAreCounted() {
        let monitor = Self.monitor()
        for text in [#"{"id":"a","model":"m@1"}"#, #"{"id":"a","p":1.5,"model":"m@1"}"#, "not json", #"{"id":"a","p":0.1}"#] {
            Array(text.utf8).withUnsafeBytes { monitor.prediction(partition: 0, key: nil, value: $0, timestampMs: 1) }
        }
        for text in [#"{"id":"a","installed":"yes"}"#, #"{"installed":true}"#] {
            Array(text.utf8).withUnsafeBytes { monitor.outcome(partition: 0, key: nil, value: $0, timestampMs: 1) }
        }
        #expect(monitor.counters.malformedPredictions == 4)
        #expect(monitor.counters.malformedOutcomes == 2)
        #expect(monitor.pendingCount == 0)
    }

    @Test func theIDFieldJoinsWhenThereIsNoKey() throws {
        let monitor = Self.monitor()
        Array(#"{"id":"a","p":0.25,"model":"m@1","variant":"canary"}"#.utf8).withUnsafeBytes {
            monitor.prediction(partition: 0, key: nil, value: $0, timestampMs: 10)
        }
        Array(#"{"id":"a","installed":true,"ts":20}"#.utf8).withUnsafeBytes {
            monitor.outcome(partition: 0, key: nil, value: $0, timestampMs: nil)
        }
        let model = try #require(monitor.snapshot(nowMs: 20).models.first)
        #expect(model.key == ModelKey(model: "m@1", variant: "canary"))
        #expect(model.windows[0].stats.count == 1)
    }
}
