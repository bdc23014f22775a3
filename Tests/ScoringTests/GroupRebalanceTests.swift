import Foundation
import Kafka
import TestBrokers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Incremental rebalancing (cooperative-sticky), static membership and offset resets, with
/// `scorer run` child processes (serialized with the other process tests).
extension ScorerProcessTests {
    /// The longest time between two consecutive predictions of each input partition, over the
    /// predictions scored within `window` (ms since the epoch).
    static func longestGaps(_ outputs: [Output], within window: ClosedRange<Int64>) -> [Int: Int64] {
        var times: [Int: [Int64]] = [:]
        for output in outputs where output.isPrediction && window.contains(output.timestampMs) {
            guard let partition = output.headers["source.partition"].flatMap(Int.init) else { continue }
            times[partition, default: []].append(output.timestampMs)
        }
        return times.mapValues { stamps in
            let sorted = stamps.sorted()
            var gap: Int64 = 0
            // From the window's start and to its end too: a partition that stopped counts.
            var previous = window.lowerBound
            for stamp in sorted {
                gap = max(gap, stamp - previous)
                previous = stamp
            }
            return max(gap, window.upperBound - previous)
        }
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The `partitions assigned` / `partitions revoked` log lines of a member.
    static func rebalanceLines(_ scorer: ScorerProcess, _ kind: String) -> [Substring] {
        scorer.log.split(separator: "\n").filter { $0.contains("[Scoring] partitions \(kind)") }
    }

    @Test(
        .disabled(if: TestBroker.selected == .tansu, "kills and restarts members under load: Tansu's coordinator livelocks when the member that led the group leaves (BENCHMARKS.md, crash_loop.sh)"),
        .disabled(if: TestBroker.selected == .noida, Comment(rawValue: TestBroker.noidaLosesCooperativeJoins)))
    func aMemberJoiningAndLeavingMovesOnlyThePartitionsThatMustMoveAndTheOthersKeepFlowing() async throws {
        let cluster = try TestCluster(inputPartitions: 4)
        let a = try startScorer(cluster, name: "coop-a", extra: ["--assignor", "cooperative-sticky"])
        #expect(await a.waitForLog("partitions assigned", timeout: .seconds(30)))
        #expect(a.log.contains("assignor=cooperative-sticky"))
        // 500 events/s for 30 s while B joins and, later, leaves.
        let events = TestEvents.valid(15_000, prefix: "coop")
        async let produced: Void = cluster.produceSteadily(events, chunk: 50, pause: .milliseconds(100))
        try await Task.sleep(for: .seconds(3))
        let joinAt = Self.nowMs()
        let b = try startScorer(cluster, name: "coop-b", extra: ["--assignor", "cooperative-sticky"])
        #expect(await b.waitForLog("partitions assigned", timeout: .seconds(40)), "\(b.log)")
        try await Task.sleep(for: .seconds(2))
        b.send(SIGTERM)
        #expect(await b.waitForExit(timeout: .seconds(25)) == 0)
        let leftAt = Self.nowMs()
        try await produced
        let streamEnd = Self.nowMs()

        let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(90))
        let (missing, duplicates) = checkComplete(outputs, expected: events.count)
        let gaps = Self.longestGaps(outputs, within: joinAt...streamEnd)
        print("cooperative-sticky join+leave: \(missing) missing, \(duplicates) scored twice; longest gap per partition (ms): \(gaps.sorted { $0.key < $1.key })")
        #expect(missing == 0)
        // A gave B only what B needed (2 of 4), never everything at once; it never had all revoked.
        let revoked = Self.rebalanceLines(a, "revoked")
        #expect(!revoked.isEmpty, "A handed partitions to B\n\(a.log)")
        #expect(!revoked.contains { $0.contains("assigned=0 ") }, "A lost every partition in a rebalance: eager behaviour\n\(revoked.joined(separator: "\n"))")
        // The partitions A kept flowed the whole time: at least two partitions never paused for
        // as long as a rebalance takes on this broker (about the session timeout, 6 s).
        let flowing = gaps.values.filter { $0 < 2_500 }.count
        #expect(flowing >= 2, "partitions that kept producing (gap < 2.5 s) through join at \(joinAt) and leave at \(leftAt): \(gaps)")
        a.send(SIGTERM)
        #expect(await a.waitForExit(timeout: .seconds(25)) == 0)
    }

    @Test(
        .disabled(if: TestBroker.selected == .tansu, "kills and restarts members under load: Tansu's coordinator livelocks when the member that led the group leaves (BENCHMARKS.md, crash_loop.sh)"),
        .disabled(if: TestBroker.selected == .noida, Comment(rawValue: TestBroker.noidaKeepsKilledMembers)))
    func aStaticMemberKilledAndRestartedGetsItsOwnPartitionsBackWhileTheOtherKeepsFlowing() async throws {
        let cluster = try TestCluster(inputPartitions: 4)
        let a = try startScorer(cluster, name: "static-a", extra: ["--assignor", "cooperative-sticky", "--instance-id", "scorer-0"])
        #expect(await a.waitForLog("partitions assigned", timeout: .seconds(30)))
        var b = try startScorer(cluster, name: "static-b", extra: ["--assignor", "cooperative-sticky", "--instance-id", "scorer-1"])
        #expect(await b.waitForLog("partitions assigned", timeout: .seconds(40)))
        #expect(b.log.contains("instance=scorer-1"))
        let events = TestEvents.valid(12_000, prefix: "static")
        async let produced: Void = cluster.produceSteadily(events, chunk: 50, pause: .milliseconds(100))
        // Let the assignment settle, then note what B holds.
        try await Task.sleep(for: .seconds(8))
        let before = try await assignedPartitions(b)
        let killedAt = Self.nowMs()
        b.send(SIGKILL)
        _ = await b.waitForExit(timeout: .seconds(10))
        b = try startScorer(cluster, name: "static-b2", extra: ["--assignor", "cooperative-sticky", "--instance-id", "scorer-1"])
        #expect(await b.waitForLog("partitions assigned", timeout: .seconds(40)), "\(b.log)")
        try await produced
        let streamEnd = Self.nowMs()
        // A cooperative rebalance hands partitions over in steps: wait for it to settle.
        var after = try await assignedPartitions(b)
        let settled = ContinuousClock.now + .seconds(20)
        while after != before && ContinuousClock.now < settled {
            try await Task.sleep(for: .milliseconds(250))
            after = try await assignedPartitions(b)
        }
        let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(90))
        let (missing, duplicates) = checkComplete(outputs, expected: events.count)
        let gaps = Self.longestGaps(outputs, within: killedAt...streamEnd)
        print("static member restart: held \(before) before, \(after) after; \(missing) missing, \(duplicates) scored twice; longest gaps (ms): \(gaps.sorted { $0.key < $1.key })")
        #expect(missing == 0)
        #expect(before > 0 && after == before, "the restarted member holds as many partitions as before")
        #expect(gaps.values.filter { $0 < 2_500 }.count >= 4 - before, "the other member's partitions keep producing: \(gaps)")
        for scorer in [a, b] { scorer.send(SIGTERM) }
        for scorer in [a, b] { #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0) }
    }

    @Test(.disabled(if: TestBroker.selected != .mock, "needs the mock cluster's log limit (about 5 MB per partition) to move the log start past the group's position"))
    func anOffsetResetThatSkipsEventsIsAnErrorLineAndACounter() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        try await cluster.commit(group: "scorer", partition: 0, offset: 0)
        // About 8 MB: the mock keeps about 5 MB per partition, so offset 0 falls off the log.
        let filler = (0..<800).map { TestEvent(key: "filler-\($0)", value: Array(repeating: UInt8(ascii: "x"), count: 10_000)) }
        try await cluster.produce(filler)
        let scorer = try startScorer(cluster, name: "offset-reset")
        #expect(await scorer.waitForLog("offset reset skipped input events", timeout: .seconds(30)), "\(scorer.log)")
        let line = scorer.log.split(separator: "\n").first { $0.contains("offset reset skipped input events") }
        #expect(line?.contains(" error scorer:") == true, "\(line ?? "")")
        #expect(line?.contains("impressions[0] could not resume at offset 0") == true, "\(line ?? "")")
        let (body, _) = try await httpGet("http://127.0.0.1:\(try metricsPort(of: scorer))/metrics")
        let sample = body.split(separator: "\n").first { $0.hasPrefix("scorer_offset_resets_total ") }
        #expect((sample?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 1, "\(sample ?? "no scorer_offset_resets_total")")
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0)
    }

    /// `scorer_assigned_partitions` from a child's /metrics.
    func assignedPartitions(_ scorer: ScorerProcess) async throws -> Int {
        let (body, _) = try await httpGet("http://127.0.0.1:\(try metricsPort(of: scorer))/metrics")
        let sample = body.split(separator: "\n").first { $0.hasPrefix("scorer_assigned_partitions ") }
        return Int(sample?.split(separator: " ").last.flatMap { Double($0) } ?? -1)
    }
}
