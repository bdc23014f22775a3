import Foundation
import Kafka
import TestBrokers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scorer run --guarantee exactly-once` against a broker whose transactions hide aborted records
/// from `read_committed` readers (noida-db: `SCORER_TEST_BROKER=noida`, CI's third tier).
extension ScorerProcessTests {
    /// Why these tests run on noida-db only.
    static let needsTransactions: Comment = Comment(rawValue:
        "needs Kafka transactions that hide aborted records from read_committed readers: noida-db has them (SCORER_TEST_BROKER=noida); the mock cluster and Tansu return aborted records (BENCHMARKS.md, \"Transactions on the brokers here\")")

    @Test(.enabled(if: TestBroker.selected.rawValue == "noida", ScorerProcessTests.needsTransactions))
    func exactlyOnceKilledMidTransactionAndRestartedAnswersEveryEventOnce() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(20_000, prefix: "eos")
        let options = ["--guarantee", "exactly-once", "--instance-id", "eos-0"]
        var scorer = try startScorer(cluster, name: "eos-1", extra: options)
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)), "\(scorer.log)")
        #expect(scorer.log.contains("guarantee=exactly-once (transactional.id scorer-scorer-eos-0)"), "\(scorer.log)")
        // A steady stream (about 5 s long) that the scorer is busy with when it dies.
        async let produced: Void = cluster.produceSteadily(events, chunk: 400, pause: .milliseconds(100))
        let before = try await cluster.readOutputs(atLeast: 2_000, timeout: .seconds(30), settle: .zero)
        scorer.send(SIGKILL)
        #expect(await scorer.waitForExit(timeout: .seconds(10)) != 0)
        #expect(before.count < events.count, "kill -9 should land mid-stream (\(before.count) done)")
        try await produced

        // The same instance id: the restart aborts the transaction the killed process left open.
        scorer = try startScorer(cluster, name: "eos-2", extra: options)
        let committed = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(90), settle: .seconds(1), distinct: true)
        let (missing, duplicates) = checkComplete(committed, expected: events.count)
        let everything = try await cluster.readOutputs(atLeast: committed.count, timeout: .seconds(30), settle: .seconds(1), readUncommitted: true)
        let (_, uncommittedDuplicates) = checkComplete(everything, expected: events.count)
        print("exactly-once, kill -9 mid-stream: \(events.count) events; read_committed: \(missing) missing, \(duplicates) twice; read_uncommitted: \(uncommittedDuplicates) twice (outputs of the aborted transaction)")
        #expect(missing == 0)
        #expect(duplicates == 0)
        // The kill landed inside a transaction: its outputs exist, aborted, and only
        // read_uncommitted readers see them (what at-least-once readers would have seen twice).
        #expect(uncommittedDuplicates > 0, "no output of the killed process's open transaction was found: did the kill land between transactions?")
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0, "\(scorer.log)")
        #expect(scorer.log.contains("stopped: drained, committed and left the group"), "\(scorer.log)")
    }

    @Test(.enabled(if: TestBroker.selected.rawValue == "noida", ScorerProcessTests.needsTransactions))
    func exactlyOnceSigtermCommitsTheOpenTransactionSoARestartRescoresNothing() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(5_000, prefix: "eos-term")
        let options = ["--guarantee", "exactly-once", "--instance-id", "eos-term"]
        // A long commit interval: the SIGTERM lands with a transaction open, which the drain commits.
        var scorer = try startScorer(cluster, name: "eos-term-1", extra: options + ["--commit-interval", "60000"])
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)), "\(scorer.log)")
        try await cluster.produce(events)
        let uncommitted = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(30), settle: .zero, readUncommitted: true)
        #expect(uncommitted.count >= events.count)
        let visible = try await cluster.readOutputs(atLeast: 1, timeout: .seconds(2), settle: .zero)
        #expect(visible.isEmpty, "outputs were visible to read_committed readers before the transaction committed: \(visible.count)")
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0, "\(scorer.log)")
        let committed = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(30))
        #expect(checkComplete(committed, expected: events.count) == (0, 0))

        // Nothing is scored again after a restart: the offsets committed with the outputs.
        scorer = try startScorer(cluster, name: "eos-term-2", extra: options)
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)), "\(scorer.log)")
        try await Task.sleep(for: .seconds(3))
        let after = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(10), settle: .seconds(1), readUncommitted: true)
        #expect(after.count == events.count, "a restart after a drained SIGTERM scored \(after.count - events.count) events again")
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0, "\(scorer.log)")
    }
}
