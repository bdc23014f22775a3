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
        // Read once the group has committed every input: noida-db never moves a read_committed
        // reader on past a transaction that was still open when it caught up with it and was then
        // aborted by a restart (readers that start afterwards read everything; BENCHMARKS.md).
        #expect(try await waitUntilCommitted(cluster, group: "scorer", events: events.count, timeout: .seconds(90)), "\(scorer.log)")
        let committed = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(30), settle: .seconds(1), distinct: true)
        let (missing, duplicates) = checkComplete(committed, expected: events.count)
        let everything = try await cluster.readOutputs(atLeast: committed.count, timeout: .seconds(30), settle: .seconds(1), readUncommitted: true)
        let (uncommittedMissing, uncommittedDuplicates) = checkComplete(everything, expected: events.count)
        print("exactly-once, kill -9 mid-stream: \(events.count) events; read_committed: \(missing) missing, \(duplicates) twice; read_uncommitted: \(uncommittedMissing) missing, \(uncommittedDuplicates) twice (outputs of the aborted transaction)")
        if missing > 0, let hold = ProcessInfo.processInfo.environment["SCORER_TEST_HOLD_SECONDS"].flatMap(Int.init) {
            print("holding the broker at \(cluster.bootstrapServers) for \(hold) s")
            try await Task.sleep(for: .seconds(hold))
        }
        #expect(missing == 0, "inputs without a committed prediction, per partition: \(Self.missingRanges(committed, partitions: cluster.inputPartitions, total: events.count)); \(scorer.log)")
        #expect(duplicates == 0)
        // The kill landed inside a transaction: its outputs exist, aborted, and only
        // read_uncommitted readers see them (what at-least-once readers would have seen twice).
        #expect(uncommittedDuplicates > 0, "no output of the killed process's open transaction was found: did the kill land between transactions?")
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0, "\(scorer.log)")
        #expect(scorer.log.contains("stopped: drained, committed and left the group"), "\(scorer.log)")
    }

    /// Waits until `group` has committed `events` input offsets in all.
    func waitUntilCommitted(_ cluster: TestCluster, group: String, events: Int, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (committed, _) = try await cluster.committedAndEnd(group: group)
            if committed.values.reduce(0, +) >= Int64(events) { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
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

/// The transactional producer of the Kafka library against the test broker, read back the way the
/// process tests read outputs.
@Suite struct TransactionalProducerTests {
    @Test(.enabled(if: TestBroker.selected.rawValue == "noida", ScorerProcessTests.needsTransactions))
    func abortedOutputsAreHiddenFromReadCommittedReaders() async throws {
        let cluster = try TestCluster()
        var config = cluster.config
        config.properties["transactional.id"] = "producer-test"
        let producerConfig = config
        try await KafkaThread.run(name: "test-transactions") {
            let producer = try KafkaProducer(config: producerConfig)
            try producer.initTransactions(timeoutMs: 10_000)
            for (batch, commit) in [("committed-a", true), ("aborted", false), ("committed-b", true)] {
                try producer.beginTransaction()
                for index in 0..<10 {
                    try producer.produce(topic: TestCluster.output, key: Array("\(batch)-\(index)".utf8), value: Array("{}".utf8))
                }
                // Delivery reports are served by this thread (the service has a thread for them).
                try producer.flush(timeoutMs: 10_000)
                if commit {
                    try producer.commitTransaction(timeoutMs: 10_000)
                } else {
                    try producer.abortTransaction(timeoutMs: 10_000)
                }
                _ = producer.pollDeliveries(max: 100)
            }
        }
        let committed = try await cluster.readOutputs(atLeast: 20, timeout: .seconds(20), settle: .seconds(1))
        let everything = try await cluster.readOutputs(atLeast: 30, timeout: .seconds(20), settle: .seconds(1), readUncommitted: true)
        #expect(committed.count == 20, "read_committed: \(committed.compactMap(\.key).sorted())")
        #expect(!committed.contains { $0.key?.hasPrefix("aborted") ?? false })
        #expect(everything.count == 30)
    }
}
