import Foundation
import Kafka
import Logging

/// Forwards the consumer's rebalance events to the pipeline.
///
/// `@unchecked Sendable` is safe here: `pipeline` is set once, before the first `poll`, and the
/// consumer calls the rebalance handler only inside `poll`/`close`, which only the pipeline's own
/// thread calls, so the pipeline is never touched from another thread through this box.
final class RebalanceForwarder: @unchecked Sendable {
    weak var pipeline: ScoringPipeline?

    func handle(_ event: RebalanceEvent) {
        pipeline?.handleRebalance(event)
    }
}

/// Where the scoring loop is in its life.
enum PipelinePhase {
    /// Gathering, scoring, writing and committing.
    case consuming
    /// Too many outputs await acknowledgement: the assigned partitions are paused (memory stays
    /// bounded instead of queueing) until the producer has caught up to half the limit.
    case paused
    /// A stop was requested: finish what was gathered, wait for acknowledgements, commit, leave.
    case draining
    /// A stage failed: stop without committing past what was not acknowledged.
    case failed(any Error)
}

/// The scoring loop: gather → score → write → commit, as four stages driven by one loop over an
/// explicit ``PipelinePhase``.
///
/// - ``MicroBatchGatherer`` polls the consumer into micro-batches;
/// - ``BatchScorer`` featurizes and scores them with the serving models (large batches on a
///   worker thread, so scoring batch N+1 overlaps producing batch N) and takes model swaps;
/// - ``OutputWriter`` produces one output per event, in input order, tracked in the
///   ``OffsetTracker``;
/// - ``OffsetCommitter`` commits the acknowledged positions and carries out rebalances.
///
/// Deliveries are acknowledged on a second thread (``DeliveryLoop``) into the shared tracker, so
/// nothing waits for the broker between batches.
///
/// `@unchecked Sendable` is safe: the service creates the pipeline and hands it to its dedicated
/// thread without touching it again; every method runs on that thread (the rebalance forwarder
/// only calls it from inside `poll`/`close`, which that thread makes).
final class ScoringPipeline: @unchecked Sendable {
    private let configuration: ScoringConfiguration
    private let consumer: KafkaConsumer
    private let tracker: OffsetTracker
    let metrics: ScoringMetrics
    private let control: PipelineControl
    let logger: Logger
    private let gatherer: MicroBatchGatherer
    private let scorer: BatchScorer
    private let writer: OutputWriter
    private let committer: OffsetCommitter
    private var phase = PipelinePhase.consuming
    /// Rebalance events that do not yet end a held-commits period (see `handleRebalance`).
    private var rebalanceEventsToSkip = 0

    init(
        configuration: ScoringConfiguration, consumer: KafkaConsumer, producer: KafkaProducer, tracker: OffsetTracker,
        metrics: ScoringMetrics, models: ServingModels, slots: ModelSlots, control: PipelineControl,
        transactionalID: String?, logger: Logger
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.tracker = tracker
        self.metrics = metrics
        self.control = control
        self.logger = logger
        gatherer = MicroBatchGatherer(consumer: consumer, configuration: configuration, control: control)
        scorer = BatchScorer(
            models: models, slots: slots, maxBatch: configuration.maxBatch, explainTop: configuration.explainTop, metrics: metrics,
            logger: logger)
        let transactions = transactionalID.map {
            TransactionalCommits(
                producer: producer, consumer: consumer, transactionalID: $0, timeoutMs: configuration.revocationTimeoutMs,
                metrics: metrics, logger: logger)
        }
        committer = OffsetCommitter(
            consumer: consumer, tracker: tracker, metrics: metrics, control: control, configuration: configuration,
            transactions: transactions, logger: logger)
        writer = OutputWriter(
            producer: producer, tracker: tracker, committer: committer, metrics: metrics, control: control,
            configuration: configuration, logger: logger)
    }

    // MARK: - The loop

    /// Runs until a stop is requested (then drains and leaves the group) or a stage fails.
    func run() throws {
        defer { scorer.stop() }  // nothing is handed to the worker once this returns
        if let transactions = committer.transactions {
            do {
                try transactions.start()
            } catch {
                throw ScoringError(.transactionFailed, "cannot start transactions (transactional.id \(transactions.transactionalID)): \(error)")
            }
        }
        try consumer.subscribe(topics: [configuration.inputTopic])
        committer.joinedGroup()
        let models = scorer.models
        logger.info("consuming", metadata: [
            "topic": "\(configuration.inputTopic)", "group": "\(configuration.group)",
            "assignor": "\(configuration.assignor.rawValue)", "instance": "\(configuration.instanceID ?? "dynamic")", "model": "\(models.primary.label)",
            "guarantee": "\(configuration.guarantee.rawValue)\(committer.transactions.map { " (transactional.id \($0.transactionalID))" } ?? "")",
            "shadow": "\(models.shadow?.label ?? "none")",
            "canary": "\(models.canary.map { "\($0.label) (\(Double(models.canaryBasisPoints) / 100) %)" } ?? "none")",
            "kernel": "\(models.primary.forest.kernelDescription)",
        ])
        logDriftReferences(models)
        setReady(true)
        while true {
            switch phase {
            case .consuming, .paused:
                do {
                    phase = try nextPhase()
                    if case .consuming = phase { try step() }
                    if case .paused = phase { try pausedStep() }
                } catch {
                    phase = .failed(error)
                }
            case .draining:
                setReady(false)
                scorer.swapModelsIfOffered()
                try? scorer.finishOutstanding(emit: write)
                try? scorer.score(gatherer.takeGathered(), inline: true, emit: write)
                return try finish(failure: nil)
            case .failed(let error):
                setReady(false)
                // Not produced, so not tracked: its events stay uncommitted and are scored again later.
                scorer.discardOutstanding()
                return try finish(failure: error)
            }
        }
    }

    /// The phase transitions, in one place.
    private func nextPhase() throws -> PipelinePhase {
        if control.isStopRequested { return .draining }
        if control.deliveryFailed.load(ordering: .relaxed) {
            return .failed(ScoringError(.deliveryFailed, "an output was not delivered"))
        }
        if let failure = committer.transactionFailure {
            let fenced = failure.isFatal ? " (fenced: another instance uses transactional.id \(committer.transactions?.transactionalID ?? "?"))" : ""
            return .failed(ScoringError(.transactionFailed, "the transactional producer failed\(fenced): \(failure); the open transaction is not committed, so its events are scored again after a restart"))
        }
        let outstanding = writer.outstanding
        switch phase {
        case .consuming where outstanding >= configuration.maxInFlight && !committer.assigned.isEmpty:
            try consumer.pause(Array(committer.assigned))
            logger.debug("producer queue full: pausing consumption", metadata: ["outstanding": "\(outstanding)"])
            return .paused
        case .paused where outstanding <= configuration.maxInFlight / 2:
            try consumer.resume(Array(committer.assigned))
            logger.debug("producer caught up: resuming consumption", metadata: ["outstanding": "\(outstanding)"])
            return .consuming
        default:
            return phase
        }
    }

    /// One turn while consuming: swap models, gather a batch, score it, write what is scored,
    /// republish refused outputs, commit.
    private func step() throws {
        scorer.swapModelsIfOffered()
        let batch = try gatherer.gather(holdingBack: scorer.hasOutstanding, idleLimitMs: committer.millisecondsUntilTransactionDue)
        if batch.isEmpty {
            try scorer.finishOutstanding(emit: write)
        } else {
            try scorer.score(batch, emit: write)
        }
        try writer.republishRefused()
        commitIfDue()
        committer.checkAssignmentWatchdog()
        metrics.recordProducerQueue(depth: writer.outstanding, inFlight: tracker.inFlight)
    }

    /// Commits when due; after an exactly-once abort, drops what was gathered or scored before
    /// the rewind (those events are consumed again).
    private func commitIfDue() {
        committer.commitIfDue(whileWaiting: writer.republishRefused)
        dropUnwrittenIfRewound()
    }

    private func dropUnwrittenIfRewound() {
        guard committer.takeRewound() else { return }
        scorer.discardOutstanding()
        var gathered = gatherer.takeGathered()
        gatherer.recycle(&gathered)
    }

    /// One turn while paused: keep serving the group (rebalances) and committing, without taking
    /// messages; write the worker's batch so its outputs count towards catching up.
    private func pausedStep() throws {
        try scorer.finishOutstanding(emit: write)
        try gatherer.serve(timeoutMs: 1)
        try writer.republishRefused()
        commitIfDue()
        committer.checkAssignmentWatchdog()
        metrics.recordProducerQueue(depth: writer.outstanding, inFlight: tracker.inFlight)
    }

    /// Writes a scored batch and recycles its buffers.
    private func write(_ scored: ScoredBatch) throws {
        var scored = scored
        defer { gatherer.recycle(&scored.batch) }
        try writer.write(scored)
        recordDrift(scored.runtime)
    }

    /// Waits for the acknowledgements (within the drain budget), commits, leaves the group, and
    /// says how the run ended.
    private func finish(failure: (any Error)?) throws {
        let budget = control.isStopRequested ? control.drainTimeRemaining : 5_000_000_000
        let drained = committer.waitForAcknowledgements(of: nil, within: budget, whileWaiting: writer.republishRefused)
        committer.commitAll(
            reason: failure.map { "stopping after a failure: \($0)" } ?? "shutdown",
            failed: failure != nil || control.deliveryFailed.load(ordering: .relaxed), whileWaiting: writer.republishRefused)
        do {
            try consumer.close()  // revokes (the handler commits again, harmlessly) and leaves the group
        } catch {
            logger.warning("leaving the consumer group failed: \(error)")
        }
        if let deliveryFailure = tracker.failures.first {
            throw ScoringError(.deliveryFailed, "output for \(deliveryFailure.partition)@\(deliveryFailure.offset) was not delivered: \(deliveryFailure.reason); its offset and later ones stay uncommitted")
        }
        if let failure { throw failure }
        if !drained {
            throw ScoringError(.shutdownTimedOut, "shutdown timeout reached with \(tracker.inFlight) outputs unacknowledged; their events will be re-scored after a restart")
        }
    }

    /// Readiness: the loop is consuming with its models loaded and a group to serve (zero
    /// partitions included: a member waiting for partitions is ready to take them; the assigned
    /// count says whether it is serving).
    private func setReady(_ ready: Bool) {
        control.ready.store(ready, ordering: .relaxed)
        metrics.recordReady(ready)
    }

    // MARK: - Rebalance

    /// Called by the consumer inside `poll`/`close`, on this thread.
    func handleRebalance(_ event: RebalanceEvent) {
        metrics.recordRebalance()
        // Asynchronous commits wait while the group rebalances (see
        // `PipelineControl.rebalanceInProgress`). A cooperative revocation is followed at once by
        // an assignment event (possibly empty) and then by a rejoin of this member to hand the
        // revoked partitions over: that rejoin is a rebalance too, so commits stay held until the
        // event after the follow-on assignment.
        if event.kind == .revoked && configuration.assignor == .cooperativeSticky && !event.partitions.isEmpty {
            control.rebalanceInProgress.store(true, ordering: .relaxed)
            rebalanceEventsToSkip = 1
        } else if rebalanceEventsToSkip > 0 {
            rebalanceEventsToSkip -= 1
        } else if control.rebalanceInProgress.exchange(false, ordering: .relaxed) {
            // Commits refused or held during the rebalance: offer every position again.
            tracker.offerAllPositionsAgain()
        }
        switch event.kind {
        case .assigned:
            committer.assign(event.partitions)
            if case .paused = phase { try? consumer.pause(event.partitions) }
        case .revoked:
            // Finish what was gathered (including events of the revoked partitions), wait for
            // their outputs, and commit them before the partitions go.
            try? scorer.finishOutstanding(emit: write)
            try? scorer.score(gatherer.takeGathered(), inline: true, emit: write)
            committer.revoke(event.partitions, whileWaiting: writer.republishRefused)
            dropUnwrittenIfRewound()
        case .lost:
            committer.lose(event.partitions, whileWaiting: writer.republishRefused)
            dropUnwrittenIfRewound()
        }
    }
}
