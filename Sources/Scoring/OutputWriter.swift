import Kafka
import Logging

/// The writing stage: one output per event of a scored batch, in input order, each tracked
/// before it is produced so its acknowledgement can move the commit position.
///
/// A prediction goes to the output topic with the `source.topic` / `source.partition` /
/// `source.offset` headers and its `scored_at` as the message timestamp; a dead letter goes to the
/// dead-letter topic as the original bytes with an `error` header too. An output too large for a
/// Kafka message is published as a cut-down dead letter instead (``OversizeOutputs``), whether
/// librdkafka refuses it at once or the broker refuses it later (the delivery thread hands those
/// back through ``PipelineControl/refusedOutputs``).
///
/// In exactly-once mode a refused output cannot be replaced inside its transaction (the refusal
/// makes the transaction abort): the writer remembers its source, has the committer abort and
/// rewind, and publishes the cut-down dead letter at once when that event comes again.
///
/// Confined to the pipeline's thread.
final class OutputWriter {
    private let producer: KafkaProducer
    private let tracker: OffsetTracker
    private let committer: OffsetCommitter
    private let metrics: ScoringMetrics
    private let control: PipelineControl
    private let logger: Logger
    private let outputTopic: String
    private let deadLetterTopic: String
    private let oversize: OversizeOutputs
    /// Exactly-once mode: inputs whose output the broker refused as too large in an aborted
    /// transaction; the next time they are scored their output goes out cut down at once.
    private var cutDownSources: Set<TopicPartitionOffset> = []
    /// The source headers of the output being produced, rewritten in place for each event (no
    /// allocation per event; librdkafka copies them).
    private var sourceHeaders = [
        KafkaHeader(name: "source.topic", value: []),
        KafkaHeader(name: "source.partition", value: []),
        KafkaHeader(name: "source.offset", value: []),
    ]

    init(
        producer: KafkaProducer, tracker: OffsetTracker, committer: OffsetCommitter, metrics: ScoringMetrics,
        control: PipelineControl, configuration: ScoringConfiguration, logger: Logger
    ) {
        self.producer = producer
        self.tracker = tracker
        self.committer = committer
        self.metrics = metrics
        self.control = control
        self.logger = logger
        outputTopic = configuration.outputTopic
        deadLetterTopic = configuration.deadLetterTopic
        oversize = OversizeOutputs(producerConfig: configuration.producerConfig)
    }

    /// Outputs produced and not yet reported delivered (backpressure looks at this).
    var outstanding: Int { producer.outstandingCount }

    // MARK: - Writing a batch

    /// Produces one output per event of `scored`, in order.
    func write(_ scored: ScoredBatch) throws {
        let runtime = scored.runtime
        metrics.recordBatch(size: scored.batch.count, scoringNanoseconds: scored.scoringNanoseconds, variants: runtime.variantStats)
        var index = 0
        var deadLetters = 0
        // Messages come in runs of one partition: resolve the partition's state once per run
        // instead of hashing its topic name for every event.
        var run = OffsetCommitter.PartitionRun()
        var oldestEventMs = runtime.scoredAt
        for batch in scored.batch.batches {
            for message in batch {
                let entry = runtime.rowOfMessage[index]
                index += 1
                if let timestamp = message.timestampMs, timestamp < oldestEventMs { oldestEventMs = timestamp }
                if message.partition != run.partition || message.topic != run.topic {
                    run = committer.run(for: message)
                }
                // Revoked meanwhile (librdkafka already drops messages fetched before a rebalance;
                // this guards the rest): the new owner consumes it from the committed offset.
                guard run.isAssigned else { continue }
                if let floor = run.floor {
                    if message.offset < floor { continue }  // scored and acknowledged before the rebalance
                    committer.passedFloor(of: &run)
                }
                if entry < 0 { deadLetters += 1 }
                try produceOutput(for: message, in: run, runtime: runtime, entry: entry)
            }
        }
        committer.noteOutputsProduced(eventAgeMs: runtime.scoredAt - oldestEventMs)
        if deadLetters > 0 {
            var byReason: [String: Int] = [:]
            for reason in runtime.reasons { byReason[reason.code, default: 0] += 1 }
            for (reason, count) in byReason { metrics.recordDeadLettered(reason: reason, count: count) }
        }
    }

    private func produceOutput(for message: KafkaMessage, in run: OffsetCommitter.PartitionRun, runtime: BatchRuntime, entry: Int32) throws {
        var isPrediction = entry >= 0
        if !cutDownSources.isEmpty, cutDownSources.remove(TopicPartitionOffset(topic: run.topic, partition: run.partition, offset: message.offset)) != nil {
            isPrediction = false  // see `republishRefused`: tracked and counted as the dead letter it becomes
            let token = tracker.track(ledger: run.ledger, offset: message.offset, timestampMs: message.timestampMs ?? runtime.scoredAt, kind: .deadLetter)
            try publishRefusedAgain(message, in: run, runtime: runtime, entry: entry, token: token)
            return
        }
        let token = tracker.track(
            ledger: run.ledger, offset: message.offset, timestampMs: message.timestampMs ?? runtime.scoredAt,
            kind: isPrediction ? .prediction : .deadLetter)
        setSourceHeaders(run, offset: message.offset)
        do {
            try withBytes(message.key) { key in
                if isPrediction {
                    try runtime.withPrediction(row: entry) { value in
                        // The message's timestamp is its `scored_at` (given, so librdkafka does not read the clock per message).
                        try publish(
                            topic: outputTopic, key: key, value: value, headers: sourceHeaders, timestampMs: runtime.scoredAt,
                            token: token, isPrediction: true)
                    }
                } else {
                    let reason = runtime.reason(entry)
                    logger.trace("dead letter", metadata: ["source": "\(run.topic)[\(run.partition)]@\(message.offset)", "error": "\(reason.description)"])
                    try withBytes(message.value) { value in
                        try publish(
                            topic: deadLetterTopic, key: key, value: value,
                            headers: [KafkaHeader(name: "error", string: reason.description)] + sourceHeaders, timestampMs: nil,
                            token: token, isPrediction: false)
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

    // MARK: - Outputs that do not fit

    /// Produces one output, or, when it cannot go out whole, a dead letter cut down to fit (see
    /// ``OversizeOutputs``) under the same token.
    private func publish(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], timestampMs: Int64?,
        token: UInt64, isPrediction: Bool
    ) throws {
        var valueLimit: Int?
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
            valueLimit = OversizeOutputs.valueBytesAfterBrokerRefusal
        }
        try publishCutDown(
            topic: topic, key: key, value: value, headers: headers, token: token, isPrediction: isPrediction,
            valueLimit: valueLimit, cause: "producer_limit")
    }

    private func publishCutDown(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], token: UInt64,
        isPrediction: Bool, valueLimit: Int?, cause: String
    ) throws {
        let size = (key?.count ?? 0) + (value?.count ?? 0)
        let error: String? = isPrediction || topic != deadLetterTopic
            ? "output to \(topic) of \(size) bytes (key \(key?.count ?? 0)) does not fit in a Kafka message (message.max.bytes \(oversize.messageMaxBytes) or the broker's limit)"
            : nil
        let copy = oversize.cutDown(key: key, value: value, headers: headers, error: error, valueLimit: valueLimit)
        if isPrediction { tracker.reclassify(token, as: .deadLetter) }
        func header(_ name: String) -> String { headers.first { $0.name == name }?.stringValue ?? "?" }
        logger.warning("output too large: publishing a cut-down dead letter", metadata: [
            "topic": "\(topic)", "bytes": "\(size)", "kept": "\(copy.value.count)", "cause": "\(cause)",
            "source": "\(header("source.topic"))[\(header("source.partition"))]@\(header("source.offset"))",
        ])
        try producer.produce(topic: deadLetterTopic, key: copy.key, value: copy.value, headers: copy.headers, opaque: token)
        metrics.recordCutDownOutput(cause: cause)
    }

    /// Exactly-once mode: publishes the cut-down dead letter for an input whose output the broker
    /// refused in an aborted transaction.
    private func publishRefusedAgain(_ message: KafkaMessage, in run: OffsetCommitter.PartitionRun, runtime: BatchRuntime, entry: Int32, token: UInt64) throws {
        setSourceHeaders(run, offset: message.offset)
        let isPrediction = entry >= 0
        try withBytes(message.key) { key in
            if isPrediction {
                try runtime.withPrediction(row: entry) { value in
                    try publishCutDown(
                        topic: outputTopic, key: key, value: value, headers: sourceHeaders, token: token, isPrediction: false,
                        valueLimit: OversizeOutputs.valueBytesAfterBrokerRefusal, cause: "broker_refused")
                }
            } else {
                try withBytes(message.value) { value in
                    try publishCutDown(
                        topic: deadLetterTopic, key: key, value: value,
                        headers: [KafkaHeader(name: "error", string: runtime.reason(entry).description)] + sourceHeaders, token: token,
                        isPrediction: false, valueLimit: OversizeOutputs.valueBytesAfterBrokerRefusal, cause: "broker_refused")
                }
            }
        }
    }

    /// Publishes a cut-down dead letter for every output the broker refused as too large (in
    /// exactly-once mode: remembers them and asks for the transaction to be aborted instead).
    func republishRefused() throws {
        let refused = control.refusedOutputs.withLock { refused in
            defer { refused.removeAll() }
            return refused
        }
        if committer.transactions != nil, !refused.isEmpty {
            for output in refused {
                func header(_ name: String) -> String? { output.message.headers.first { $0.name == name }?.stringValue }
                guard let topic = header("source.topic"), let partition = header("source.partition").flatMap(Int.init),
                      let offset = header("source.offset").flatMap(Int64.init) else { continue }
                cutDownSources.insert(TopicPartitionOffset(topic: topic, partition: partition, offset: offset))
            }
            committer.abortRequested = committer.abortRequested ?? "the broker refused \(refused.count) output(s) as too large: they go out cut down after the rewind"
            return
        }
        for output in refused {
            let message = output.message
            do {
                try withBytes(message.key) { key in
                    try withBytes(message.value) { value in
                        try publishCutDown(
                            topic: output.topic, key: key, value: value, headers: message.headers, token: output.token,
                            isPrediction: output.topic != deadLetterTopic,
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

    // MARK: - Helpers

    /// Rewrites the source headers in place for the input at `offset` of `run`'s partition.
    private func setSourceHeaders(_ run: OffsetCommitter.PartitionRun, offset: Int64) {
        sourceHeaders[0].value = run.topicHeader
        sourceHeaders[1].value = run.partitionHeader
        sourceHeaders[2].value!.removeAll(keepingCapacity: true)
        appendDecimal(offset, to: &sourceHeaders[2].value!)
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

    private func withBytes<C: Collection<UInt8>, R>(_ bytes: C?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let bytes else { return try body(nil) }
        return try bytes.withContiguousStorageIfAvailable { try body(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { try body($0) }
    }
}
