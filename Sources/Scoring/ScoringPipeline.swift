import Features
import Foundation
import Kafka
import Logging
import Synchronization

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

/// The scoring loop: consume, micro-batch, featurize, score, produce, commit.
///
/// Confined to one dedicated thread (everything here runs on it, including the rebalance handler,
/// which the consumer calls inside `poll`). Deliveries are acknowledged on a second thread (see
/// ``DeliveryLoop``) into the shared ``OffsetTracker``; this thread turns the tracker's commit
/// positions into asynchronous commits. Scoring batch N+1 therefore overlaps the delivery of
/// batch N, and nothing waits for the broker between batches. Large batches are featurized and
/// scored on a ``ScoringWorker`` while this thread produces the previous batch's outputs and
/// gathers the next; outputs are still produced strictly in input order.
///
/// `@unchecked Sendable` is safe: the service creates the pipeline and hands it to its dedicated
/// thread without touching it again; every method runs on that thread (the rebalance forwarder
/// only calls it from inside `poll`/`close`, which that thread makes).
final class ScoringPipeline: @unchecked Sendable {
    let configuration: ScoringConfiguration
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let tracker: OffsetTracker
    let metrics: ScoringMetrics
    let slot: ModelSlot<ScoringModel>
    let control: PipelineControl
    let logger: Logger

    /// The runtime for the next batch (scored inline or handed to the worker).
    private var runtime: ModelRuntime
    /// The second runtime, for the batch after `runtime`'s. A job on the worker holds its own
    /// reference (normally to this one; after a model swap, to a runtime of the old model).
    private var spareRuntime: ModelRuntime
    private let worker: ScoringWorker
    /// Whether the worker holds a job whose outputs are not yet produced.
    private var jobOutstanding = false
    /// Batches at least this large go to the worker; smaller ones (the latency path, where
    /// batches are what one fetch brought) are scored inline, where a hand-over would only add a
    /// thread wake-up.
    static let workerMinimumBatch = 128
    /// Partitions assigned to this member (events from others are dropped: their new owner
    /// consumes them from the committed position).
    private var assigned: Set<TopicPartition> = []
    private var paused = false
    /// Per partition revoked from this member: everything below this offset has its output
    /// acknowledged. If the partition comes back, events below it are skipped instead of scored
    /// again, even when the commit during revocation was refused (the development cluster
    /// refuses commits while a rebalance is in progress; real brokers accept them).
    private var acknowledgedFloor: [TopicPartition: Int64] = [:]
    /// The micro-batch being gathered: one consumer batch per poll.
    private var gathered: [KafkaMessageBatch] = []
    private var gatheredCount = 0
    private var spareBatches: [KafkaMessageBatch] = []
    private var lastCommitNanos: UInt64 = 0
    /// Alerts when this member holds no partitions for too long.
    var assignmentWatchdog: AssignmentWatchdog
    /// The source.topic / source.partition / source.offset headers of the output being produced,
    /// rewritten in place for each event (no allocation per event; librdkafka copies them).
    private let oversize: OversizeOutputs
    private var sourceHeaders = [
        KafkaHeader(name: "source.topic", value: []),
        KafkaHeader(name: "source.partition", value: []),
        KafkaHeader(name: "source.offset", value: []),
    ]

    init(
        configuration: ScoringConfiguration, consumer: KafkaConsumer, producer: KafkaProducer,
        tracker: OffsetTracker, metrics: ScoringMetrics, model: ScoringModel, slot: ModelSlot<ScoringModel>,
        control: PipelineControl, logger: Logger
    ) {
        self.configuration = configuration
        self.consumer = consumer
        self.producer = producer
        self.tracker = tracker
        self.metrics = metrics
        self.slot = slot
        self.control = control
        self.logger = logger
        self.runtime = ModelRuntime(model: model, maxBatch: configuration.maxBatch)
        self.spareRuntime = ModelRuntime(model: model, maxBatch: configuration.maxBatch)
        self.worker = ScoringWorker(name: "scoring-worker")
        self.oversize = OversizeOutputs(producerConfig: configuration.producerConfig)
        self.assignmentWatchdog = AssignmentWatchdog(sessionTimeoutMs: configuration.sessionTimeoutMs)
    }

    deinit {
        worker.stop()
    }

    // MARK: - Main loop

    /// Runs until a stop is requested (then drains and leaves the group) or a fatal error.
    func run() throws {
        defer { worker.stop() }  // nothing is handed to the worker once this returns
        try consumer.subscribe(topics: [configuration.inputTopic])
        assignmentWatchdog.joined(now: DispatchTime.now().uptimeNanoseconds)
        logger.info("consuming", metadata: [
            "topic": "\(configuration.inputTopic)", "group": "\(configuration.group)",
            "model": "\(runtime.model.name)", "kernel": "\(runtime.model.forest.kernelDescription)",
        ])
        var failure: (any Error)?
        do {
            while !control.isStopRequested {
                if control.deliveryFailed.load(ordering: .relaxed) { break }
                swapModelIfOffered()
                try applyBackpressure()
                try gatherBatch()
                if gatheredCount > 0 {
                    try scoreAndProduceGathered()
                } else {
                    try produceWorkerJob()
                }
                try republishRefused()
                try commitIfDue(force: false)
                metrics.recordProducerQueue(depth: producer.outstandingCount, inFlight: tracker.inFlight)
                checkAssignmentWatchdog()
            }
        } catch {
            failure = error
        }
        control.ready.store(false, ordering: .relaxed)
        metrics.recordReady(false)
        // Whatever was gathered is scored and produced (unless the failure was ours to produce).
        if failure == nil {
            try? produceWorkerJob()
            if gatheredCount > 0 { try? scoreAndProduceGathered(inline: true) }
        } else if jobOutstanding {
            // Not produced, so not tracked: its events stay uncommitted and are scored again later.
            _ = worker.wait()
            jobOutstanding = false
        }
        let drained = waitForAcknowledgements(of: nil, until: control.isStopRequested ? control.drainTimeRemaining : 5_000_000_000)
        commitAll(reason: "shutdown")
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

    // MARK: - Batching

    /// Polls until `maxBatch` events are gathered or `maxWait` has passed since the first one.
    ///
    /// While idle this takes what is already queued, then waits for the first event (and takes
    /// whatever arrived with it); only once the first event is in does it wait (at most `maxWait`)
    /// for the batch to fill. An event therefore never waits longer than `maxWait` for company,
    /// and with `maxWait` 0 a batch is exactly what the consumer had fetched: no added latency,
    /// while under load batches still fill up from librdkafka's prefetched queue.
    private func gatherBatch() throws {
        let maxBatch = configuration.maxBatch
        var deadline: UInt64?
        while gatheredCount < maxBatch && !control.isStopRequested {
            var batch = spareBatches.popLast() ?? KafkaMessageBatch()
            if let deadline {
                let now = DispatchTime.now().uptimeNanoseconds
                // The worker's batch must not wait for this one to fill.
                if now >= deadline || jobOutstanding {
                    spareBatches.append(batch)
                    break
                }
                let timeoutMs = Int((deadline - now) / 1_000_000)  // rounded down: never past maxWait
                try consumer.poll(into: &batch, maxMessages: maxBatch - gatheredCount, timeoutMs: timeoutMs)
                if batch.isEmpty {
                    spareBatches.append(batch)
                    if timeoutMs == 0 { break }
                    continue
                }
            } else {
                try consumer.poll(into: &batch, maxMessages: maxBatch - gatheredCount, timeoutMs: 0)
                if batch.isEmpty && !jobOutstanding {
                    // Waits for the first event only, then takes the rest of what has arrived with it
                    // (never while the worker's batch awaits producing).
                    try consumer.poll(into: &batch, maxMessages: maxBatch - gatheredCount, timeoutMs: configuration.idlePollMs)
                }
                if batch.isEmpty {
                    spareBatches.append(batch)
                    return  // idle: let the loop commit and check its flags
                }
                deadline = DispatchTime.now().uptimeNanoseconds + UInt64(configuration.maxWaitMicros) * 1_000
            }
            gatheredCount += batch.count
            gathered.append(batch)
        }
    }

    // MARK: - Scoring and producing

    /// Featurizes and scores everything gathered and produces one output per event, in order:
    /// a large batch goes to the worker and the worker's previous batch is produced meanwhile; a
    /// small one (or any, with `inline`) is scored here after the worker's batch is produced.
    private func scoreAndProduceGathered(inline: Bool = false) throws {
        if !inline && gatheredCount >= Self.workerMinimumBatch {
            let previous = jobOutstanding ? worker.wait() : nil
            worker.submit(ScoringWorker.Job(batches: gathered, count: gatheredCount, runtime: runtime))
            jobOutstanding = true
            swap(&runtime, &spareRuntime)  // the job's runtime is now `spareRuntime`
            gathered = []
            gatheredCount = 0
            if let previous { try produce(previous) }
            return
        }
        try produceWorkerJob()
        let start = DispatchTime.now().uptimeNanoseconds
        runtime.score(gathered)
        let job = ScoringWorker.Job(
            batches: gathered, count: gatheredCount, runtime: runtime,
            scoringNanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - start))
        gathered = []
        gatheredCount = 0
        try produce(job)
    }

    /// Waits for the worker's outstanding batch, if any, and produces its outputs.
    private func produceWorkerJob() throws {
        guard jobOutstanding else { return }
        let job = worker.wait()
        jobOutstanding = false
        if let job { try produce(job) }
    }

    /// Produces one output per event of a scored batch, in order, then recycles its buffers.
    private func produce(_ job: ScoringWorker.Job) throws {
        var job = job
        let runtime = job.runtime
        metrics.recordBatch(size: job.count, scoringNanoseconds: job.scoringNanoseconds)
        defer {
            // Recycle the batches' buffers (popped, so each is uniquely referenced and keeps its capacity).
            while var batch = job.batches.popLast() {
                batch.removeAll()
                spareBatches.append(batch)
            }
        }

        let scoredAt = Int64(Date().timeIntervalSince1970 * 1000)
        var index = 0
        var errorIndex = 0
        // Messages come in runs of one partition: resolve the partition's state once per run
        // instead of hashing its topic name for every event.
        var run = PartitionRun()
        for batch in job.batches {
            for message in batch {
                let row = runtime.rowOfMessage[index]
                index += 1
                var error: FeatureError?
                if row < 0 {
                    error = runtime.errors[errorIndex]
                    errorIndex += 1
                }
                if message.partition != run.partition || message.topic != run.topic {
                    run = startRun(message)
                }
                // Revoked meanwhile (librdkafka already drops messages fetched before a rebalance;
                // this guards the rest): the new owner consumes it from the committed offset.
                guard run.isAssigned else { continue }
                if let floor = run.floor {
                    if message.offset < floor { continue }  // scored and acknowledged before the rebalance
                    acknowledgedFloor[TopicPartition(topic: run.topic, partition: run.partition)] = nil
                    run.floor = nil
                }
                try produceOutput(for: message, in: run, runtime: runtime, row: row, error: error, scoredAt: scoredAt)
            }
        }
        if errorIndex > 0 {
            var byReason: [String: Int] = [:]
            for error in runtime.errors { byReason[error.code.rawValue, default: 0] += 1 }
            for (reason, count) in byReason { metrics.recordDeadLettered(reason: reason, count: count) }
        }
    }

    /// What the produce loop needs to know about the partition of a run of messages.
    private struct PartitionRun {
        var topic = ""
        var partition = -1
        var isAssigned = false
        var floor: Int64?
        var ledger: UInt32 = 0
        var topicHeader: [UInt8] = []
        var partitionHeader: [UInt8] = []
    }

    private func startRun(_ message: KafkaMessage) -> PartitionRun {
        let topicPartition = message.topicPartition
        var run = PartitionRun(topic: topicPartition.topic, partition: topicPartition.partition)
        run.isAssigned = assigned.contains(topicPartition)
        guard run.isAssigned else { return run }
        run.floor = acknowledgedFloor.isEmpty ? nil : acknowledgedFloor[topicPartition]
        run.ledger = tracker.ledger(for: SourcePartition(topic: run.topic, partition: run.partition))
        run.topicHeader = Array(run.topic.utf8)
        run.partitionHeader = Array(String(run.partition).utf8)
        return run
    }

    private func produceOutput(
        for message: KafkaMessage, in run: PartitionRun, runtime: ModelRuntime, row: Int32, error: FeatureError?, scoredAt: Int64
    ) throws {
        let timestamp = message.timestampMs
        let token = tracker.track(ledger: run.ledger, offset: message.offset, timestampMs: timestamp ?? scoredAt, kind: error == nil ? .prediction : .deadLetter)
        sourceHeaders[0].value = run.topicHeader
        sourceHeaders[1].value = run.partitionHeader
        sourceHeaders[2].value!.removeAll(keepingCapacity: true)
        appendDecimal(message.offset, to: &sourceHeaders[2].value!)
        do {
            if let error {
                let headers = [KafkaHeader(name: "error", string: error.description)] + sourceHeaders
                logger.trace("dead letter", metadata: ["source": "\(run.topic)[\(run.partition)]@\(message.offset)", "error": "\(error)"])
                try withKey(message) { key in
                    try withValue(message) { value in
                        try publish(
                            topic: configuration.deadLetterTopic, key: key, value: value, headers: headers, timestampMs: nil,
                            token: token, isPrediction: false)
                    }
                }
            } else {
                try withKey(message) { key in
                    try runtime.withPrediction(row: row) { value in
                        // The message's timestamp is its `scored_at` (given, so librdkafka does not read the clock per message).
                        try publish(
                            topic: configuration.outputTopic, key: key, value: value, headers: sourceHeaders,
                            timestampMs: runtime.scoredAt, token: token, isPrediction: true)
                    }
                }
            }
        } catch {
            // Rejected outright, and not for its size: never commit past it.
            _ = tracker.acknowledge(token, failure: "\(error)")
            control.deliveryFailed.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// Produces one output, or, when it cannot go out whole, a dead letter cut down to fit (see
    /// ``OversizeOutputs``) under the same token.
    private func publish(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], timestampMs: Int64?,
        token: UInt64, isPrediction: Bool
    ) throws {
        if oversize.fits(keyCount: key?.count ?? 0, valueCount: value?.count ?? 0, headers: headers) {
            let refusal: KafkaError
            do {
                try producer.produce(topic: topic, keyBytes: key, valueBytes: value, headers: headers, timestampMs: timestampMs, opaque: token)
                return
            } catch {
                refusal = error
            }
            guard refusal.isMessageTooLarge else { throw refusal }
            // The estimate let through what librdkafka refuses: keep a small prefix.
            try publishCutDown(
                topic: topic, key: key, value: value, headers: headers, token: token, isPrediction: isPrediction,
                valueLimit: OversizeOutputs.valueBytesAfterBrokerRefusal, cause: "producer_limit")
            return
        }
        try publishCutDown(
            topic: topic, key: key, value: value, headers: headers, token: token, isPrediction: isPrediction,
            valueLimit: nil, cause: "producer_limit")
    }

    private func publishCutDown(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], token: UInt64,
        isPrediction: Bool, valueLimit: Int?, cause: String
    ) throws {
        let size = (key?.count ?? 0) + (value?.count ?? 0)
        let error: String? = isPrediction || topic != configuration.deadLetterTopic
            ? "output to \(topic) of \(size) bytes (key \(key?.count ?? 0)) does not fit in a Kafka message (message.max.bytes \(oversize.messageMaxBytes) or the broker's limit)"
            : nil
        let copy = oversize.cutDown(key: key, value: value, headers: headers, error: error, valueLimit: valueLimit)
        if isPrediction { tracker.reclassify(token, as: .deadLetter) }
        logger.warning("output too large: publishing a cut-down dead letter", metadata: [
            "topic": "\(topic)", "bytes": "\(size)", "kept": "\(copy.value.count)", "cause": "\(cause)",
            "source": "\(headers.first { $0.name == "source.topic" }?.stringValue ?? "")[\(headers.first { $0.name == "source.partition" }?.stringValue ?? "")]@\(headers.first { $0.name == "source.offset" }?.stringValue ?? "")",
        ])
        try producer.produce(
            topic: configuration.deadLetterTopic, key: copy.key, value: copy.value, headers: copy.headers, opaque: token)
        metrics.recordCutDownOutput(cause: cause)
    }

    /// Publishes a cut-down dead letter for every output the broker refused as too large.
    private func republishRefused() throws {
        let refused = control.refusedOutputs.withLock { refused in
            defer { refused.removeAll() }
            return refused
        }
        for output in refused {
            let message = output.message
            func withBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
                guard let bytes else { return try body(nil) }
                return try bytes.withUnsafeBytes { try body($0) }
            }
            do {
                try withBytes(message.key) { key in
                    try withBytes(message.value) { value in
                        try publishCutDown(
                            topic: output.topic, key: key, value: value, headers: message.headers, token: output.token,
                            isPrediction: output.topic != configuration.deadLetterTopic,
                            valueLimit: OversizeOutputs.valueBytesAfterBrokerRefusal, cause: "broker_refused")
                    }
                }
            } catch {
                _ = tracker.acknowledge(output.token, failure: "\(output.reason); its cut-down copy was refused too: \(error)")
                control.deliveryFailed.store(true, ordering: .relaxed)
                throw error
            }
        }
    }

    /// Appends `value` in decimal (what `String(value)` spells).
    private func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(0x2D) }
        let start = bytes.count
        var rest = value.magnitude
        repeat {
            bytes.append(UInt8(truncatingIfNeeded: rest % 10) + 0x30)
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }

    private func withKey<R>(_ message: KafkaMessage, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let key = message.key else { return try body(nil) }
        return try key.withUnsafeBytes { try body($0) }
    }

    private func withValue<R>(_ message: KafkaMessage, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let value = message.value else { return try body(nil) }
        return try value.withUnsafeBytes { try body($0) }
    }

    // MARK: - Model swap

    private func swapModelIfOffered() {
        guard let model = slot.takePending() else { return }
        // A batch still on the worker keeps its own (old) runtime: it is produced as scored, naming
        // the old model; later batches use the new runtimes.
        let previous = runtime.model.name
        runtime = ModelRuntime(model: model, maxBatch: configuration.maxBatch)
        spareRuntime = ModelRuntime(model: model, maxBatch: configuration.maxBatch)
        metrics.recordModel(name: model.name, loadedAtSeconds: Date().timeIntervalSince1970)
        logger.info("model swapped", metadata: ["from": "\(previous)", "to": "\(model.name)"])
    }

    // MARK: - Backpressure

    /// Pauses the assigned partitions while too many outputs await acknowledgement, and resumes
    /// them once the producer has caught up, so memory stays bounded instead of queueing.
    private func applyBackpressure() throws {
        let outstanding = producer.outstandingCount
        if !paused, outstanding >= configuration.maxInFlight, !assigned.isEmpty {
            try consumer.pause(Array(assigned))
            paused = true
            logger.debug("producer queue full: pausing consumption", metadata: ["outstanding": "\(outstanding)"])
        } else if paused, outstanding <= configuration.maxInFlight / 2 {
            try consumer.resume(Array(assigned))
            paused = false
            logger.debug("producer caught up: resuming consumption", metadata: ["outstanding": "\(outstanding)"])
        }
        if paused {
            // Keep serving the group (rebalances) while paused, without taking messages.
            Thread.sleep(forTimeInterval: 0.001)
        }
    }

    // MARK: - Committing

    private func commitIfDue(force: Bool) throws {
        let now = DispatchTime.now().uptimeNanoseconds
        guard force || now - lastCommitNanos >= UInt64(configuration.commitIntervalMs) * 1_000_000 else { return }
        lastCommitNanos = now
        let positions = tracker.takeCommitPositions()
        guard !positions.isEmpty else { return }
        let offsets = positions.map { TopicPartitionOffset(topic: $0.0.topic, partition: $0.0.partition, offset: $0.1) }
        do {
            try consumer.commit(offsets, async: true)
        } catch {
            logger.warning("offset commit failed (retried with the next one): \(error)")
        }
    }

    /// Synchronously commits the acknowledged positions of every tracked partition.
    private func commitAll(reason: String) {
        commitSync(tracker.trackedPartitions, reason: reason)
    }

    private func commitSync(_ partitions: [SourcePartition], reason: String) {
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

    /// Waits until the outputs of `partitions` (nil = all) are acknowledged, or `nanos` pass.
    private func waitForAcknowledgements(of partitions: [SourcePartition]?, until nanos: Int64) -> Bool {
        let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(nanos, 0))
        while true {
            let remaining = partitions.map { tracker.inFlight(in: $0) } ?? tracker.inFlight
            if remaining == 0 { return true }
            if (try? republishRefused()) == nil { return false }
            if control.deliveryFailed.load(ordering: .relaxed) { return false }
            if DispatchTime.now().uptimeNanoseconds >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.001)
        }
    }

    // MARK: - Rebalance

    /// Called by the consumer inside `poll`/`close`, on this thread.
    func handleRebalance(_ event: RebalanceEvent) {
        metrics.recordRebalance()
        let partitions = event.partitions.map { SourcePartition(topic: $0.topic, partition: $0.partition) }
        switch event.kind {
        case .assigned:
            assigned.formUnion(event.partitions)
            tracker.assign(partitions)
            if paused { try? consumer.pause(event.partitions) }
            control.ready.store(true, ordering: .relaxed)
            metrics.recordReady(!control.isStopRequested)
            logger.info("partitions assigned", metadata: ["partitions": "\(partitions.sorted())"])
            noteAssignment(count: assigned.count)
        case .revoked:
            // Finish what was gathered (including events of the revoked partitions), wait for their
            // outputs, and commit them before the partitions go.
            try? produceWorkerJob()
            if gatheredCount > 0 { try? scoreAndProduceGathered(inline: true) }
            let budget = control.isStopRequested ? control.drainTimeRemaining : Int64(configuration.revocationTimeoutMs) * 1_000_000
            let drained = waitForAcknowledgements(of: partitions, until: budget)
            commitSync(partitions, reason: "revocation")
            for (partition, position) in tracker.commitPositions(of: partitions) {
                acknowledgedFloor[TopicPartition(topic: partition.topic, partition: partition.partition)] = position
            }
            if !drained {
                logger.warning("revoked partitions still had unacknowledged outputs; their new owner re-scores them", metadata: ["partitions": "\(partitions.sorted())"])
            }
            finishRevocation(event.partitions, partitions)
            logger.info("partitions revoked", metadata: ["partitions": "\(partitions.sorted())"])
        case .lost:
            // Another member may already own them: commits would fail; forget them.
            finishRevocation(event.partitions, partitions)
            logger.warning("partitions lost (session timed out); their events may be scored twice", metadata: ["partitions": "\(partitions.sorted())"])
        }
    }

    private func finishRevocation(_ topicPartitions: [TopicPartition], _ partitions: [SourcePartition]) {
        assigned.subtract(topicPartitions)
        noteAssignment(count: assigned.count)
        tracker.remove(partitions)
        metrics.forgetLag(of: partitions)
    }
}
