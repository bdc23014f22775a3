import Dispatch
import Foundation
import Kafka
import Logging

/// The committing stage: owns this member's assignment, turns the ``OffsetTracker``'s
/// acknowledged positions into offset commits, and carries out rebalances.
///
/// Commits are asynchronous every `commitInterval` and synchronous on revocation and shutdown.
/// A partition revoked from (or lost by) this member keeps a floor (everything below it has its
/// output acknowledged): if the partition comes back, events below the floor are skipped instead of
/// scored again, even when the commit during revocation was refused (the development cluster
/// refuses commits while a rebalance is in progress; real brokers accept them) or, for a lost
/// partition, never made.
///
/// In exactly-once mode (``transactions`` set) a commit is a transaction instead: once every
/// output since the previous commit is acknowledged, the positions go into the transaction with
/// the group metadata and the transaction commits. When it cannot (an output refused, an error
/// that needs an abort, partitions lost), the transaction is aborted and every assigned partition
/// is rewound to its committed offset: the pipeline then drops what it gathered or scored before
/// (``takeRewound()``) and scores those events again, in a new transaction.
///
/// Confined to the pipeline's thread (rebalances arrive inside the consumer's `poll`, on it).
final class OffsetCommitter {
    private let consumer: KafkaConsumer
    private let tracker: OffsetTracker
    let metrics: ScoringMetrics
    private let control: PipelineControl
    let logger: Logger
    let inputTopic: String
    let group: String
    private let commitIntervalNanoseconds: UInt64
    private let revocationTimeoutNanoseconds: Int64
    /// Partitions assigned to this member (events from others are dropped: their new owner
    /// consumes them from the committed position).
    private(set) var assigned: Set<TopicPartition> = []
    private var acknowledgedFloor: [TopicPartition: Int64] = [:]
    private var lastCommitNanoseconds: UInt64 = 0
    /// Alerts when this member holds no partitions for too long.
    var assignmentWatchdog: AssignmentWatchdog
    /// Exactly-once mode's transactions; nil in at-least-once mode.
    let transactions: TransactionalCommits?
    /// Exactly-once mode: why the open transaction must be aborted at the next commit (set by the
    /// writer when the broker refused an output).
    var abortRequested: String?
    /// A transactional failure the service cannot go on from (fenced): the pipeline stops.
    private(set) var transactionFailure: KafkaError?
    private var rewound = false
    private let restartOffset: Int64
    /// Exactly-once mode: when the open transaction got its first output (uptime ns); nil while
    /// it has none. Its commit is due `commitInterval` after that, less what a commit takes.
    private var transactionOpenedNanoseconds: UInt64?
    /// Exactly-once mode: how long the latest commits took, from the wait for their last
    /// acknowledgements to the broker's answer (a ring; the longest is the allowance).
    private var recentCommitNanoseconds = [UInt64](repeating: 0, count: 8)
    private var recentCommitIndex = 0

    init(
        consumer: KafkaConsumer, tracker: OffsetTracker, metrics: ScoringMetrics, control: PipelineControl,
        configuration: ScoringConfiguration, transactions: TransactionalCommits? = nil, logger: Logger
    ) {
        self.transactions = transactions
        restartOffset = configuration.consumerConfig.autoOffsetReset == .latest ? TopicPartitionOffset.end : TopicPartitionOffset.beginning
        self.consumer = consumer
        self.tracker = tracker
        self.metrics = metrics
        self.control = control
        self.logger = logger
        inputTopic = configuration.inputTopic
        group = configuration.group
        assignmentWatchdog = AssignmentWatchdog(sessionTimeoutMs: configuration.sessionTimeoutMs)
        commitIntervalNanoseconds = UInt64(configuration.commitIntervalMs) * 1_000_000
        revocationTimeoutNanoseconds = Int64(configuration.revocationTimeoutMs) * 1_000_000
    }

    // MARK: - Partition runs

    /// What the output writer needs to know about the partition of a run of messages.
    struct PartitionRun {
        var topic = ""
        var partition = -1
        var isAssigned = false
        /// Offsets below this were scored and acknowledged before the partition was revoked.
        var floor: Int64?
        var ledger: UInt32 = 0
        var topicHeader: [UInt8] = []
        var partitionHeader: [UInt8] = []
    }

    /// Looks up the partition of `message` once for the run of messages that follows it.
    func run(for message: KafkaMessage) -> PartitionRun {
        let topicPartition = message.topicPartition
        var run = PartitionRun(topic: topicPartition.topic, partition: topicPartition.partition)
        run.isAssigned = assigned.contains(topicPartition)
        guard run.isAssigned else { return run }
        run.floor = acknowledgedFloor.isEmpty ? nil : acknowledgedFloor[topicPartition]
        run.ledger = tracker.ledger(for: topicPartition)
        run.topicHeader = Array(run.topic.utf8)
        run.partitionHeader = Array(String(run.partition).utf8)
        return run
    }

    /// Forgets a partition's floor once consumption has passed it.
    func passedFloor(of run: inout PartitionRun) {
        acknowledgedFloor[TopicPartition(topic: run.topic, partition: run.partition)] = nil
        run.floor = nil
    }

    // MARK: - Rebalances

    func assign(_ partitions: [TopicPartition]) {
        assigned.formUnion(partitions)
        tracker.assign(partitions)
        metrics.recordAssignment(count: assigned.count)
        noteAssignment()
        // Incremental (cooperative) rebalances often hand out nothing new.
        guard !partitions.isEmpty else {
            logger.debug("rebalance: no partitions added", metadata: ["assigned": "\(assigned.count)"])
            return
        }
        logger.info("partitions assigned", metadata: ["partitions": "\(partitions.sorted())", "assigned": "\(assigned.count)"])
    }

    /// Waits (within the revocation budget) for the outputs of `partitions`, commits them and lets
    /// them go. `whileWaiting` runs between checks (it republishes refused outputs).
    func revoke(_ partitions: [TopicPartition], whileWaiting: () throws -> Void) {
        guard !partitions.isEmpty else { return }
        let budget = control.isStopRequested ? control.drainTimeRemaining : revocationTimeoutNanoseconds
        if let transactions {
            // Everything produced so far commits with the positions, the kept partitions' too.
            if commitTransaction(transactions, within: budget, whileWaiting: whileWaiting) {
                for (partition, position) in tracker.commitPositions(of: partitions) { acknowledgedFloor[partition] = position }
            }
            forget(partitions)
            logger.info("partitions revoked", metadata: ["partitions": "\(partitions.sorted())", "assigned": "\(assigned.count)"])
            return
        }
        let drained = waitForAcknowledgements(of: partitions, within: budget, whileWaiting: whileWaiting)
        commitSync(partitions, reason: "revocation")
        for (partition, position) in tracker.commitPositions(of: partitions) {
            acknowledgedFloor[partition] = position
        }
        if !drained {
            logger.warning("revoked partitions still had unacknowledged outputs; their new owner re-scores them", metadata: ["partitions": "\(partitions.sorted())"])
        }
        forget(partitions)
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions.sorted())", "assigned": "\(assigned.count)"])
    }

    /// Lets `partitions` go without committing: another member may already own them.
    ///
    /// At-least-once, what this member answered stays answered: it waits (within the revocation
    /// budget) for the outputs in flight and keeps a floor, so that if the partitions come back
    /// (librdkafka also declares an assignment lost when a commit meets a newer generation, and
    /// the next rebalance often hands it back) acknowledged events are skipped, not scored again.
    func lose(_ partitions: [TopicPartition], whileWaiting: () throws -> Void) {
        if let transactions {
            forget(partitions)
            // Their outputs must not commit (another member owns them now): abort, and score
            // the partitions still held again from their committed offsets.
            abortAndRewind(transactions, reason: "partitions \(partitions.sorted()) were lost")
            return
        }
        let drained = waitForAcknowledgements(of: partitions, within: revocationTimeoutNanoseconds, whileWaiting: whileWaiting)
        for (partition, position) in tracker.commitPositions(of: partitions) { acknowledgedFloor[partition] = position }
        forget(partitions)
        logger.warning(
            "partitions lost (session timed out, or a commit met a newer group generation): not committed; \(drained ? "events" : "events not yet acknowledged") may be scored twice by their next owner",
            metadata: ["partitions": "\(partitions.sorted())"])
    }

    private func forget(_ partitions: [TopicPartition]) {
        assigned.subtract(partitions)
        tracker.remove(partitions)
        metrics.forgetLag(of: partitions)
        metrics.recordAssignment(count: assigned.count)
        noteAssignment()
    }

    // MARK: - Committing

    /// Commits the positions that moved, asynchronously, at most once per commit interval; in
    /// exactly-once mode commits the transaction (or aborts it when asked to, at once).
    /// `whileWaiting` runs while a transaction waits for its acknowledgements.
    func commitIfDue(whileWaiting: () throws -> Void) {
        if let transactions, let reason = abortRequested {
            abortAndRewind(transactions, reason: reason)
            return
        }
        // The group is rebalancing: the next rebalance event (always delivered at its end)
        // lets commits go again (see `PipelineControl.rebalanceInProgress`).
        if control.rebalanceInProgress.load(ordering: .relaxed) { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if let transactions {
            guard let due = transactionDueNanoseconds, now >= due else { return }
            lastCommitNanoseconds = now
            commitTransaction(transactions, within: Int64(transactions.timeoutMs) * 1_000_000, whileWaiting: whileWaiting)
            return
        }
        guard now - lastCommitNanoseconds >= commitIntervalNanoseconds else { return }
        lastCommitNanoseconds = now
        let positions = tracker.takeCommitPositions()
        guard !positions.isEmpty else { return }
        let offsets = positions.map { TopicPartitionOffset(topic: $0.0.topic, partition: $0.0.partition, offset: $0.1) }
        do {
            try consumer.commit(offsets, async: true)
        } catch {
            logger.warning("offset commit failed (retried with the next one): \(error)")
        }
    }

    /// Synchronously commits the acknowledged positions of every tracked partition (in
    /// exactly-once mode: commits the transaction, or aborts it when `failed`).
    func commitAll(reason: String, failed: Bool = false, whileWaiting: () throws -> Void) {
        if let transactions {
            if failed {
                abortAndRewind(transactions, reason: reason)
            } else {
                commitTransaction(transactions, within: max(control.drainTimeRemaining, 1_000_000_000), whileWaiting: whileWaiting)
            }
            return
        }
        commitSync(tracker.trackedPartitions, reason: reason)
    }

    // MARK: - Transactions (exactly-once mode)

    /// Exactly-once mode: notes that outputs went into the open transaction. The first ones start
    /// its clock, backdated by how old their oldest event was when scored (`eventAgeMs`, up to a
    /// quarter of the interval), so the interval bounds an event's wait from its timestamp as
    /// long as it is consumed promptly; a backlog's old events only shorten the transaction by
    /// that quarter.
    func noteOutputsProduced(eventAgeMs: Int64) {
        guard transactions != nil, transactionOpenedNanoseconds == nil else { return }
        let credit = min(UInt64(max(eventAgeMs, 0)) * 1_000_000, commitIntervalNanoseconds / 4)
        transactionOpenedNanoseconds = DispatchTime.now().uptimeNanoseconds &- credit
    }

    /// Exactly-once mode: when the open transaction must start committing (uptime ns) so that
    /// its first output waits at most the commit interval to become visible: the interval after
    /// that output's event (see ``noteOutputsProduced(eventAgeMs:)``), less the longest of the
    /// latest commits (at most half the interval). Without outputs it is the plain interval after
    /// the last commit (positions alone still commit); nil in at-least-once mode.
    var transactionDueNanoseconds: UInt64? {
        guard transactions != nil else { return nil }
        guard let opened = transactionOpenedNanoseconds else { return lastCommitNanoseconds &+ commitIntervalNanoseconds }
        let allowance = min(recentCommitNanoseconds.max() ?? 0, commitIntervalNanoseconds / 2)
        return opened &+ commitIntervalNanoseconds &- allowance
    }

    /// Exactly-once mode: milliseconds until the open transaction's commit is due (0 when it is),
    /// which bounds how long the loop may wait for events; nil in at-least-once mode and while
    /// commits are held for a rebalance.
    var millisecondsUntilTransactionDue: Int? {
        guard let due = transactionDueNanoseconds, !control.rebalanceInProgress.load(ordering: .relaxed) else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        return due > now ? Int((due - now) / 1_000_000) : 0
    }

    /// Whether an abort rewound the assigned partitions since the last call: what the pipeline
    /// gathered or scored before it must be dropped (those events come again).
    func takeRewound() -> Bool {
        defer { rewound = false }
        return rewound
    }

    /// Waits for every output of the open transaction, then commits it with the positions they
    /// answer. Returns whether it committed; when it could not, it aborted and rewound (or, for a
    /// fatal error, set ``transactionFailure``).
    @discardableResult
    private func commitTransaction(_ transactions: TransactionalCommits, within budget: Int64, whileWaiting: () throws -> Void) -> Bool {
        guard transactionFailure == nil else { return false }
        let started = DispatchTime.now().uptimeNanoseconds
        defer { transactionOpenedNanoseconds = nil }  // the next transaction's clock starts at its first output
        if abortRequested == nil, !waitForAcknowledgements(of: nil, within: budget, whileWaiting: whileWaiting), abortRequested == nil {
            if control.deliveryFailed.load(ordering: .relaxed) { return false }  // the pipeline stops and aborts
            abortRequested = "\(tracker.inFlight) outputs still unacknowledged after \(budget / 1_000_000) ms"
        }
        if let reason = abortRequested {
            abortAndRewind(transactions, reason: reason)
            return false
        }
        let positions = tracker.takeCommitPositions()
        guard !positions.isEmpty else { return true }
        let offsets = positions.map { TopicPartitionOffset(topic: $0.0.topic, partition: $0.0.partition, offset: $0.1) }
        do {
            try transactions.commit(offsets)
            recentCommitNanoseconds[recentCommitIndex] = DispatchTime.now().uptimeNanoseconds - started
            recentCommitIndex = (recentCommitIndex + 1) % recentCommitNanoseconds.count
            return true
        } catch where error.requiresAbort {
            abortAndRewind(transactions, reason: "\(error)")
        } catch {
            transactionFailure = error
        }
        return false
    }

    /// Aborts the open transaction and moves every assigned partition back to its committed
    /// offset, with fresh ledgers (reports of the aborted outputs are ignored).
    private func abortAndRewind(_ transactions: TransactionalCommits, reason: String) {
        abortRequested = nil
        transactionOpenedNanoseconds = nil
        let partitions = assigned.sorted()
        tracker.remove(partitions)
        acknowledgedFloor.removeAll()
        rewound = true
        do {
            try transactions.abort(reason: reason)
        } catch {
            transactionFailure = error
            return
        }
        tracker.assign(partitions)
        guard !partitions.isEmpty else { return }
        do {
            let committed = try consumer.committed(partitions, timeoutMs: transactions.timeoutMs)
            try consumer.seek(
                partitions.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: committed[$0] ?? restartOffset) },
                timeoutMs: transactions.timeoutMs)
        } catch {
            // Without a rewind the next transaction would skip the aborted events: stop instead.
            transactionFailure = error
        }
    }

    private func commitSync(_ partitions: [TopicPartition], reason: String) {
        let positions = tracker.commitPositions(of: partitions)
        guard !positions.isEmpty else { return }
        let offsets = positions.map { TopicPartitionOffset(topic: $0.0.topic, partition: $0.0.partition, offset: $0.1) }
        do {
            try consumer.commit(offsets, async: false)
            logger.debug("committed", metadata: ["reason": "\(reason)", "offsets": "\(offsets)"])
        } catch {
            logger.warning("offset commit on \(reason) failed: \(error)")
        }
    }

    /// Waits until the outputs of `partitions` (nil = all) are acknowledged, or `nanoseconds`
    /// pass, or a delivery fails; `whileWaiting` runs between checks.
    func waitForAcknowledgements(of partitions: [TopicPartition]?, within nanoseconds: Int64, whileWaiting: () throws -> Void) -> Bool {
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(nanoseconds, 0))
        while true {
            let remaining = partitions.map { tracker.inFlight(in: $0) } ?? tracker.inFlight
            if remaining == 0 { return true }
            if (try? whileWaiting()) == nil { return false }
            if control.deliveryFailed.load(ordering: .relaxed) || abortRequested != nil { return false }
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.001)
        }
    }
}
