import Kafka
import Testing
@testable import Scoring

/// The at-least-once bookkeeping: an offset becomes committable only when it and everything
/// consumed before it from the same partition is acknowledged.
@Suite struct OffsetTrackerTests {
    let p0 = TopicPartition(topic: "impressions", partition: 0)
    let p1 = TopicPartition(topic: "impressions", partition: 1)

    @Test func commitPositionWaitsForEveryEarlierOffset() {
        let tracker = OffsetTracker()
        tracker.assign([p0])
        let tokens = (10..<15).map { tracker.track(p0, offset: Int64($0), timestampMs: 0, kind: .prediction) }
        #expect(tracker.inFlight == 5)

        // Out-of-order acknowledgements: nothing is committable until offset 10 is in.
        _ = tracker.acknowledge(tokens[2])
        _ = tracker.acknowledge(tokens[1])
        #expect(tracker.takeCommitPositions().isEmpty)

        _ = tracker.acknowledge(tokens[0])
        let positions = tracker.takeCommitPositions()
        #expect(positions.count == 1)
        #expect(positions.first?.0 == p0)
        #expect(positions.first?.1 == 13)  // 10, 11, 12 done: next to read is 13

        // Handed out once; a second call has nothing new.
        #expect(tracker.takeCommitPositions().isEmpty)

        _ = tracker.acknowledge(tokens[4])
        #expect(tracker.takeCommitPositions().isEmpty)
        _ = tracker.acknowledge(tokens[3])
        #expect(tracker.takeCommitPositions().map(\.1) == [15])
        #expect(tracker.inFlight == 0)
    }

    /// The delivery thread's form: many tokens under one lock, out of order and across
    /// partitions; revoked ledgers and repeated tokens are skipped, not counted twice.
    @Test func acknowledgingManyAtOnceMovesEachPartitionAndSkipsStaleTokens() {
        let tracker = OffsetTracker()
        tracker.assign([p0, p1])
        let first = (0..<4).map { tracker.track(p0, offset: Int64($0), timestampMs: 100 + Int64($0), kind: .prediction) }
        let second = (50..<52).map { tracker.track(p1, offset: Int64($0), timestampMs: 7, kind: .deadLetter) }
        var seen: [(OutputKind, Int64)] = []
        tracker.acknowledgeDelivered([first[2], second[0], first[0], first[1], first[0]]) { seen.append(($0, $1)) }
        #expect(seen.map(\.1) == [102, 7, 100, 101])
        #expect(seen.map(\.0) == [.prediction, .deadLetter, .prediction, .prediction])
        #expect(tracker.inFlight == 2)
        #expect(Set(tracker.takeCommitPositions().map { "\($0.0)=\($0.1)" }) == ["impressions[0]=3", "impressions[1]=51"])

        tracker.remove([p1])
        seen.removeAll()
        tracker.acknowledgeDelivered([second[1], first[3]]) { seen.append(($0, $1)) }
        #expect(seen.map(\.1) == [103])  // p1's ledger is gone: its late acknowledgement is ignored
        #expect(tracker.inFlight == 0)
        #expect(tracker.takeCommitPositions().map { "\($0.0)=\($0.1)" } == ["impressions[0]=4"])
    }

    @Test func partitionsAreIndependent() {
        let tracker = OffsetTracker()
        tracker.assign([p0, p1])
        let a = tracker.track(p0, offset: 0, timestampMs: 0, kind: .prediction)
        let b = tracker.track(p1, offset: 100, timestampMs: 0, kind: .deadLetter)
        _ = tracker.track(p0, offset: 1, timestampMs: 0, kind: .prediction)
        _ = tracker.acknowledge(b)
        #expect(tracker.takeCommitPositions().map { "\($0.0)=\($0.1)" } == ["impressions[1]=101"])
        let acknowledged = tracker.acknowledge(a)
        #expect(acknowledged?.partition == p0)
        #expect(acknowledged?.offset == 0)
        #expect(acknowledged?.kind == .prediction)
        #expect(tracker.takeCommitPositions().map { "\($0.0)=\($0.1)" } == ["impressions[0]=1"])
        #expect(tracker.inFlight(in: [p0]) == 1)
        #expect(tracker.inFlight(in: [p1]) == 0)
    }

    @Test func gapsInOffsetsCommitPastTheLastRetiredOffset() {
        // Compacted topics and transaction markers leave gaps: the position is last offset + 1.
        let tracker = OffsetTracker()
        let tokens = [3, 7, 20].map { tracker.track(p0, offset: Int64($0), timestampMs: 0, kind: .prediction) }
        for token in tokens { _ = tracker.acknowledge(token) }
        #expect(tracker.commitPositions(of: [p0]).map(\.1) == [21])
    }

    @Test func aFailedDeliveryBlocksCommitsOfItsPartitionForGood() {
        let tracker = OffsetTracker()
        let tokens = (0..<3).map { tracker.track(p0, offset: Int64($0), timestampMs: 0, kind: .prediction) }
        _ = tracker.acknowledge(tokens[0])
        #expect(tracker.acknowledge(tokens[1], failure: "Broker: Message size too large") == nil)
        _ = tracker.acknowledge(tokens[2])
        #expect(tracker.commitPositions(of: [p0]).map(\.1) == [1])
        #expect(tracker.failures == [.init(partition: p0, offset: 1, reason: "Broker: Message size too large")])
    }

    @Test func acknowledgementsOfARevokedAssignmentAreIgnored() {
        let tracker = OffsetTracker()
        tracker.assign([p0])
        let old = tracker.track(p0, offset: 5, timestampMs: 0, kind: .prediction)
        tracker.remove([p0])
        #expect(!tracker.isTracked(p0))
        #expect(tracker.inFlight == 0)

        // Reassigned: a fresh ledger; the stale token must not retire the new entry.
        tracker.assign([p0])
        let fresh = tracker.track(p0, offset: 5, timestampMs: 0, kind: .prediction)
        #expect(tracker.acknowledge(old) == nil)
        #expect(tracker.commitPositions(of: [p0]).isEmpty)
        #expect(tracker.acknowledge(fresh) != nil)
        #expect(tracker.commitPositions(of: [p0]).map(\.1) == [6])
    }

    /// Hundreds of partitions and many rebalances: every open ledger keeps its own entries, and a
    /// token of any earlier assignment never touches a current one.
    @Test func manyPartitionsAndReassignmentsKeepLedgersApart() {
        let tracker = OffsetTracker()
        let partitions = (0..<300).map { TopicPartition(topic: "t", partition: $0) }
        var stale: [UInt64] = []
        for round in 0..<5 {
            tracker.assign(partitions)
            let tokens = partitions.map { tracker.track($0, offset: Int64(round * 10 + $0.partition % 7), timestampMs: 0, kind: .prediction) }
            #expect(tracker.inFlight == partitions.count)
            for token in stale { #expect(tracker.acknowledge(token) == nil) }
            // Every other partition acknowledged; the rest revoked with their entries in flight.
            for (index, token) in tokens.enumerated() where index % 2 == 0 {
                #expect(tracker.acknowledge(token)?.partition == partitions[index])
            }
            let committed = Dictionary(uniqueKeysWithValues: tracker.commitPositions(of: partitions).map { ($0.0, $0.1) })
            #expect(committed.count == partitions.count / 2)
            #expect(partitions.enumerated().allSatisfy { index, partition in
                committed[partition] == (index % 2 == 0 ? Int64(round * 10 + partition.partition % 7 + 1) : nil)
            })
            tracker.remove(partitions)
            #expect(tracker.inFlight == 0)
            stale += tokens.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        }
        #expect(tracker.trackedPartitions.isEmpty)
    }

    @Test func duplicateAcknowledgementsCountOnce() {
        let tracker = OffsetTracker()
        let token = tracker.track(p0, offset: 0, timestampMs: 42, kind: .prediction)
        #expect(tracker.acknowledge(token)?.eventTimestampMs == 42)
        #expect(tracker.acknowledge(token) == nil)
        #expect(tracker.inFlight == 0)
    }

    @Test func longRunsReclaimTheRetiredPrefixAndKeepCounting() {
        let tracker = OffsetTracker()
        var pending: [UInt64] = []
        for offset in 0..<50_000 {
            pending.append(tracker.track(p0, offset: Int64(offset), timestampMs: 0, kind: .prediction))
            // Acknowledge with a lag of 100 records, in reverse order within each group of 10.
            if pending.count == 100 {
                for token in pending.prefix(10).reversed() { #expect(tracker.acknowledge(token) != nil) }
                pending.removeFirst(10)
            }
        }
        #expect(tracker.inFlight == 90)
        #expect(tracker.commitPositions(of: [p0]).map(\.1) == [49_910])
        for token in pending { _ = tracker.acknowledge(token) }
        #expect(tracker.commitPositions(of: [p0]).map(\.1) == [50_000])
    }
}

extension OffsetTracker.Acknowledged: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.partition == rhs.partition && lhs.offset == rhs.offset && lhs.eventTimestampMs == rhs.eventTimestampMs
            && lhs.kind == rhs.kind
    }
}
