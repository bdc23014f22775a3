import CRdKafka
import Foundation

/// A consumer-group member that reads batches of messages and commits offsets explicitly.
///
/// Typical at-least-once loop, on a thread of its own:
/// ```swift
/// let consumer = try KafkaConsumer(config: config, rebalanceHandler: { event in ... })
/// try consumer.subscribe(topics: ["impressions"])
/// var batch = KafkaMessageBatch()
/// while running {
///     try consumer.poll(into: &batch, maxMessages: 1000, timeoutMs: 100)
///     // process, then once the results are safely stored:
///     try consumer.storeOffsets(batch.nextOffsets)      // committed by the next commit()
///     try consumer.commit(async: true)
/// }
/// try consumer.close()
/// ```
/// Offsets are never stored or committed behind your back unless `KafkaConfig.autoOffsetStore` /
/// `autoCommit` say so.
///
/// - Important: `poll`, `commit` (synchronous), `committed`, `seek` and `close` block. Call them
///   from a thread of your own (see `KafkaThread`), never from Swift's cooperative thread pool, and
///   poll from one thread at a time: the rebalance, error and statistics handlers run inside `poll`
///   on that thread.
public final class KafkaConsumer: @unchecked Sendable {
    // Sendable: `handle`, `queue`, `context` and `bootstrapServers` are immutable after init;
    // librdkafka's rd_kafka_t is thread-safe for every call made here; `pollLock` serialises the
    // only stateful part (the message pointer buffer, the consumer queue serving and
    // `fetchRestarter`); `fetchWakeInFlight` is a lock-guarded value of its own.
    private let handle: OpaquePointer
    private let queue: OpaquePointer
    private let context: ConsumerContext
    private let retainedContext: Unmanaged<ConsumerContext>
    private let pollLock = NSLock()
    private var messagePointers: [UnsafeMutablePointer<rd_kafka_message_t>?] = []
    private var topicCache: [(OpaquePointer, Int32)] = []
    private var closed = false
    /// Wakes fetchers stopped by the local queue limits (librdkafka before 2.2; see `FetchRestarter`).
    private var fetchRestarter: FetchRestarter?
    private let fetchWakeInFlight = LockedValue(false)
    /// The bootstrap servers this consumer was created with (for error messages).
    public let bootstrapServers: String

    /// Creates a consumer in the group `config.groupID`.
    ///
    /// - Parameters:
    ///   - config: settings; `groupID` is required for `subscribe` and `commit` (a consumer without
    ///     one can only `assign` partitions).
    ///   - rebalanceHandler: called on the polling thread when partitions are assigned, revoked or
    ///     lost. For `.revoked`, the partitions are still assigned while the handler runs: finish
    ///     their work and `commit` (synchronously) before returning.
    ///   - errorHandler: called on the polling thread with consumer errors (broker down,
    ///     partition errors, async commit failures). librdkafka retries most by itself.
    ///   - statisticsHandler: called on the polling thread with librdkafka's statistics JSON
    ///     (includes `consumer_lag` per partition) every `config.statisticsIntervalMs`.
    ///   - readsHeaders: copy each message's headers into the batch (the default). Consumers that
    ///     never look at headers pass `false` (messages then show none): librdkafka parses
    ///     headers on request with a heap allocation per message even when there are none, which
    ///     made a quarter of the polling thread's time (`benchmarks/kafka_throughput.sh` consume:
    ///     0.27 s with, 0.21 s without for 200,000 messages).
    ///   - offsetResetHandler: called (on a librdkafka thread: be quick and thread-safe) when an
    ///     error moved a partition's position by `auto.offset.reset`, e.g. "Offset out of range"
    ///     after the log start passed it: events may have been skipped (see ``OffsetReset``).
    ///     librdkafka's own warning still goes to the log.
    ///   - assignmentStart: called on the polling thread for each partition the group assigns:
    ///     where it starts (``AssignmentStart``; nil: the committed offset, Kafka's default).
    ///     Partitions placed by time are looked up before the assignment takes effect (the poll
    ///     that delivers the assignment blocks on a ListOffsets request), and the `.assigned`
    ///     event's `start` says where they start.
    /// - Throws: `KafkaError` `.invalidConfiguration` for a bad property or a missing group id.
    public init(
        config: KafkaConfig,
        rebalanceHandler: (@Sendable (RebalanceEvent) -> Void)? = nil,
        errorHandler: (@Sendable (KafkaError) -> Void)? = nil,
        statisticsHandler: (@Sendable (String) -> Void)? = nil,
        readsHeaders: Bool = true,
        offsetResetHandler: (@Sendable (OffsetReset) -> Void)? = nil,
        assignmentStart: (@Sendable (TopicPartition) -> AssignmentStart)? = nil
    ) throws(KafkaError) {
        self.readsHeaders = readsHeaders
        if let groupID = config.groupID, groupID.isEmpty {
            throw KafkaError.invalidConfiguration(property: "group.id", "must not be empty (leave it nil for assign-only consumers)")
        }
        // librdkafka's assign/consumer queue need a group handle even when the group is never
        // joined, so an assign-only consumer gets a private group id it never subscribes with.
        var config = config
        let hasGroup = config.groupID != nil
        if !hasGroup { config.groupID = "assign-only-\(UUID().uuidString)" }
        // librdkafka 2.2+ re-checks its local queue limits every fetch.queue.backoff.ms (default
        // 1 s, which starves a consumer that empties the queue faster); earlier versions get
        // woken by `FetchRestarter` instead. (Debian 12 ships 2.0.2, so only that path runs here.)
        var extra: [(String, String)] = []
        let backoff = FetchRestarter.backoffProperty
        if !FetchRestarter.isNeeded, config.properties[backoff] == nil, config.consumerProperties[backoff] == nil {
            extra.append((backoff, "10"))
        }
        let conf = try config.makeConf(forConsumer: true, extra: extra)
        usesCooperativeSticky = confValue(conf, "partition.assignment.strategy")?.contains("cooperative-sticky") ?? false
        if FetchRestarter.isNeeded {
            fetchRestarter = FetchRestarter(
                messageLimit: Int(confValue(conf, "queued.min.messages") ?? "") ?? 100_000,
                byteLimit: (Int(confValue(conf, "queued.max.messages.kbytes") ?? "") ?? 65_536) * 1024)
        }
        let context = ConsumerContext(
            rebalanceHandler: rebalanceHandler, errorHandler: errorHandler, statisticsHandler: statisticsHandler,
            offsetResetHandler: offsetResetHandler, assignmentStart: assignmentStart)
        // The context must outlive the handle: it is released in deinit after rd_kafka_destroy.
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        rd_kafka_conf_set_error_cb(conf, consumerErrorCallback)
        rd_kafka_conf_set_offset_commit_cb(conf, consumerOffsetCommitCallback)
        if statisticsHandler != nil { rd_kafka_conf_set_stats_cb(conf, consumerStatisticsCallback) }
        // Every log line passes through this consumer's own callback (which forwards it to
        // `KafkaLog`), so offset resets are recognised whether or not a log handler is installed.
        if offsetResetHandler != nil { rd_kafka_conf_set_log_cb(conf, consumerLogCallback) }
        let handle: OpaquePointer
        do {
            handle = try makeHandle(RD_KAFKA_CONSUMER, conf: conf, attachLog: offsetResetHandler == nil)
        } catch {
            retained.release()
            throw error
        }
        // Everything (messages, rebalances, errors, statistics) is served by polling one queue.
        rd_kafka_poll_set_consumer(handle)
        self.handle = handle
        self.queue = rd_kafka_queue_get_consumer(handle)
        self.context = context
        self.retainedContext = retained
        self.bootstrapServers = config.bootstrapServers
        self.hasGroup = hasGroup
    }

    private let hasGroup: Bool
    /// Whether the group protocol is cooperative-sticky (see `deinit`).
    private let usesCooperativeSticky: Bool
    /// Whether polled messages carry their headers (see `init`).
    public let readsHeaders: Bool

    deinit {
        // Rebalance callbacks fired while destroying must not reach the caller's handler (which
        // may reference this consumer); they only release the assignment.
        context.isShuttingDown.withLock { $0 = true }
        if !closed { _ = rd_kafka_consumer_close(handle) }
        rd_kafka_queue_destroy(queue)
        // librdkafka before 2.3 aborts the process (assertion in
        // rd_kafka_sticky_assignor_state_destroy, fixed by librdkafka #4381) when a
        // cooperative-sticky consumer that never received an assignment is destroyed, e.g. a
        // member stopped while its first rebalance was still going on. It has left the group
        // already (closed above); leaving the handle undestroyed is the only way around it, at
        // the cost of its memory (the context stays retained for any late callback).
        if usesCooperativeSticky && rd_kafka_version() < 0x0203_0000 && !context.receivedAssignment.withLock({ $0 }) {
            return
        }
        rd_kafka_destroy(handle)
        retainedContext.release()
    }

    // MARK: - Group membership

    /// Joins the group for these topics (replacing any previous subscription). Partitions are
    /// assigned asynchronously while polling; the rebalance handler says which.
    public func subscribe(topics: [String]) throws(KafkaError) {
        guard !topics.isEmpty, !topics.contains(where: \.isEmpty) else {
            throw KafkaError.invalidArgument("subscribe needs at least one non-empty topic name")
        }
        guard hasGroup else {
            throw KafkaError.invalidConfiguration(property: "group.id", "subscribe needs a consumer group id")
        }
        let list = makePartitionList(topics.map { ($0, Int(RD_KAFKA_PARTITION_UA), Int64(RD_KAFKA_OFFSET_INVALID)) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
    }

    /// Reads exactly these partitions from the given offsets, without joining a group (no
    /// rebalancing). Offsets may be `TopicPartitionOffset.beginning` or `.end`. Replaces any
    /// previous assignment; do not mix with `subscribe`.
    ///
    /// Fetches the topics' metadata first (up to `metadataTimeoutMs`): without known partition
    /// leaders librdkafka would retry the start-offset lookup on a timer, delaying the first
    /// message by about half a second.
    /// - Important: blocks until the metadata arrives.
    public func assign(_ positions: [TopicPartitionOffset], metadataTimeoutMs: Int = 10_000) throws(KafkaError) {
        for topic in Set(positions.map(\.topic)) {
            guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
                throw KafkaError.invalidArgument("invalid topic name '\(topic)'")
            }
            defer { rd_kafka_topic_destroy(topicHandle) }
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(handle, 0, topicHandle, &metadata, Int32(clamping: metadataTimeoutMs))
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError.librdkafka(err, "metadata of topic '\(topic)' from \(bootstrapServers): \(String(cString: rd_kafka_err2str(err)))")
            }
        }
        let list = makePartitionList(resolveLogicalOffsets(positions, timeoutMs: metadataTimeoutMs))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
    }

    /// Replaces `.beginning` / `.end` with the partitions' current low / high watermarks.
    ///
    /// Assigning a logical offset makes librdkafka look the offset up itself once the partition
    /// has a leader; when the assignment lands before the leader is known (a race right after
    /// start-up) it retries on a 500 ms timer, so about one start in six stalled half a second
    /// (`benchmarks/kafka_throughput.sh`, consume; kcat shows the same). One ListOffsets request
    /// here waits for the leaders instead. Partitions it cannot resolve keep the logical offset.
    private func resolveLogicalOffsets(_ positions: [TopicPartitionOffset], timeoutMs: Int) -> [TopicPartitionOffset] {
        let logical = positions.filter { $0.offset == TopicPartitionOffset.beginning || $0.offset == TopicPartitionOffset.end }
        guard !logical.isEmpty else { return positions }
        // ListOffsets takes -2 (earliest) and -1 (latest) as timestamps: the same values.
        let list = makePartitionList(logical)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard rd_kafka_offsets_for_times(handle, list, Int32(clamping: timeoutMs)) == RD_KAFKA_RESP_ERR_NO_ERROR else { return positions }
        var resolved: [TopicPartition: Int64] = [:]
        for (item, itemError) in readPartitionList(list) where itemError == RD_KAFKA_RESP_ERR_NO_ERROR && item.offset >= 0 {
            resolved[item.topicPartition] = item.offset
        }
        return positions.map { position in
            guard let offset = resolved[position.topicPartition] else { return position }
            return TopicPartitionOffset(topic: position.topic, partition: position.partition, offset: offset)
        }
    }

    /// Reads every partition of `topics` from `offset` (`TopicPartitionOffset.beginning`, `.end`
    /// or an absolute offset) without joining a group; returns the partitions assigned.
    ///
    /// One metadata request on this consumer's own connection finds the partitions (and their
    /// leaders, so fetching starts at once).
    /// - Throws: `KafkaError` `.unknownTopic` when a topic does not exist.
    /// - Important: blocks until the metadata arrives (at most `metadataTimeoutMs`).
    @discardableResult
    public func assignAll(topics: [String], offset: Int64, metadataTimeoutMs: Int = 10_000) throws(KafkaError) -> [TopicPartition] {
        var positions: [TopicPartitionOffset] = []
        for topic in topics {
            guard !topic.isEmpty, let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
                throw KafkaError.invalidArgument("invalid topic name '\(topic)'")
            }
            defer { rd_kafka_topic_destroy(topicHandle) }
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            let err = rd_kafka_metadata(handle, 0, topicHandle, &metadata, Int32(clamping: metadataTimeoutMs))
            defer { if let metadata { rd_kafka_metadata_destroy(metadata) } }
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError.librdkafka(err, "metadata of topic '\(topic)' from \(bootstrapServers): \(String(cString: rd_kafka_err2str(err)))")
            }
            var found = false
            for index in 0..<Int(metadata.pointee.topic_cnt) {
                let entry = metadata.pointee.topics[index]
                guard String(cString: entry.topic) == topic else { continue }
                guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR, entry.partition_cnt > 0 else {
                    throw KafkaError(code: .unknownTopic, message: "topic '\(topic)' does not exist on \(bootstrapServers)")
                }
                found = true
                for partition in 0..<Int(entry.partition_cnt) {
                    positions.append(TopicPartitionOffset(topic: topic, partition: Int(entry.partitions[partition].id), offset: offset))
                }
            }
            if !found { throw KafkaError(code: .unknownTopic, message: "topic '\(topic)' does not exist on \(bootstrapServers)") }
        }
        positions.sort { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        positions = resolveLogicalOffsets(positions, timeoutMs: metadataTimeoutMs)
        let list = makePartitionList(positions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
        return positions.map(\.topicPartition)
    }

    /// The partitions currently assigned to this consumer.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        let err = rd_kafka_assignment(handle, &list)
        defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
        return readPartitionList(list).map { $0.0.topicPartition }
    }

    /// Leaves the group cleanly: the rebalance handler gets `.revoked` for the current assignment
    /// (commit there), then the group rebalances the partitions to the remaining members at once
    /// instead of after a session timeout. The consumer cannot be used afterwards.
    /// - Important: blocks until the group is left.
    public func close() throws(KafkaError) {
        try pollLock.locked { () throws(KafkaError) in
            guard !closed else { return }
            closed = true
            let err = rd_kafka_consumer_close(handle)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
        }
    }

    // MARK: - Consuming

    /// Returns up to `maxMessages` messages.
    ///
    /// By default it waits up to `timeoutMs` for the first message, then adds whatever else is
    /// already fetched (up to `maxMessages`) without waiting: lowest latency, and a batch grows
    /// by itself under load. With `waitForFullBatch`, it waits until `maxMessages` arrived or
    /// `timeoutMs` passed (a fixed micro-batch window). An empty batch means nothing arrived.
    ///
    /// Serves rebalances, errors and statistics (calling the handlers) on this thread.
    /// Partition-EOF markers are skipped; per-message errors go to the error handler.
    /// - Throws: `KafkaError` when the consumer is closed or hit a fatal error.
    /// - Important: blocks up to `timeoutMs`.
    public func poll(maxMessages: Int, timeoutMs: Int, waitForFullBatch: Bool = false) throws(KafkaError) -> KafkaMessageBatch {
        var batch = KafkaMessageBatch()
        try poll(into: &batch, maxMessages: maxMessages, timeoutMs: timeoutMs, waitForFullBatch: waitForFullBatch)
        return batch
    }

    /// Like `poll(maxMessages:timeoutMs:waitForFullBatch:)`, but refills `batch` (emptied first),
    /// reusing its capacity.
    public func poll(
        into batch: inout KafkaMessageBatch, maxMessages: Int, timeoutMs: Int, waitForFullBatch: Bool = false
    ) throws(KafkaError) {
        batch.removeAll()
        guard maxMessages > 0 else { return }
        try pollLock.locked { () throws(KafkaError) in
            guard !closed else { throw KafkaError.invalidArgument("poll on a closed consumer") }
            if messagePointers.count < maxMessages {
                messagePointers = Array(repeating: nil, count: maxMessages)
            }
            topicCache.removeAll(keepingCapacity: true)
            // One message per call (rd_kafka_consume_queue), never rd_kafka_consume_batch_queue:
            // before librdkafka 2.1 (#4208) the batch call advanced a partition's application
            // offset for each message it collected, then dropped the collected messages when a
            // version barrier followed them in the same call. librdkafka pauses and resumes every
            // assigned partition on its own thread at each cooperative rebalance (and a pause or
            // resume from another thread does the same), and the fetch after the resume starts at
            // that application offset: the dropped messages were never delivered, so a member
            // that kept a partition through an incremental rebalance skipped them and committed
            // past them. Per-message calls advance the offset only for messages handed out here.
            let count = messagePointers.withUnsafeMutableBufferPointer { pointers -> Int in
                let start = DispatchTime.now().uptimeNanoseconds
                let budget = UInt64(max(timeoutMs, 0)) * 1_000_000
                var count = 0
                while count < maxMessages {
                    let wait: Int32
                    if waitForFullBatch {
                        // Until the batch is full or the time is up.
                        let elapsed = DispatchTime.now().uptimeNanoseconds &- start
                        wait = elapsed < budget ? Int32(clamping: (budget - elapsed + 999_999) / 1_000_000) : 0
                    } else {
                        // Wait for the first message only, then take what is already there.
                        wait = count == 0 ? Int32(clamping: timeoutMs) : 0
                    }
                    guard let message = rd_kafka_consume_queue(queue, wait) else {
                        if waitForFullBatch && wait > 0 { continue }
                        break
                    }
                    pointers[count] = message
                    count += 1
                }
                return count
            }
            var failed: [UnsafeMutablePointer<rd_kafka_message_t>] = []
            messagePointers.withUnsafeMutableBufferPointer { pointers in
                batch.fill(
                    from: UnsafeMutableBufferPointer(rebasing: pointers[0..<count]), readingHeaders: readsHeaders,
                    topicCache: &topicCache) { failed.append($0) }
            }
            for message in failed {
                if message.pointee.err != RD_KAFKA_RESP_ERR__PARTITION_EOF { context.report(messageError(message)) }
                rd_kafka_message_destroy(message)
            }
            if count > 0,
               fetchRestarter?.shouldWake(afterTaking: count, bytes: batch.arena.count, stillQueued: Int(rd_kafka_queue_length(queue))) == true {
                wakeFetchers()
            }
        }
        if batch.isEmpty, let fatal = fatalError() { throw fatal }
    }

    /// Wakes the broker threads that fetch this consumer's partitions, so that fetchers stopped by
    /// the local queue limits look again now instead of up to a second later (`FetchRestarter`).
    ///
    /// Any request queued for a broker wakes its thread; this one asks each leader for the latest
    /// offsets of the assigned partitions (read-only, one ListOffsets per broker), on a thread of
    /// its own so the polling thread never waits for the answer. At most one is in flight.
    private func wakeFetchers() {
        guard fetchWakeInFlight.withLock({ inFlight in
            defer { inFlight = true }
            return !inFlight
        }) else { return }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            defer { fetchWakeInFlight.withLock { $0 = false } }
            var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
            guard rd_kafka_assignment(handle, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            guard list.pointee.cnt > 0 else { return }
            for index in 0..<Int(list.pointee.cnt) { list.pointee.elems[index].offset = -1 }  // -1: latest
            _ = rd_kafka_offsets_for_times(handle, list, 1_000)
        }
    }

    // MARK: - Offsets

    /// Records offsets (next offset to read) as ready to commit; the next `commit()` without
    /// explicit offsets, or the auto-commit timer if enabled, commits them.
    public func storeOffsets(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = makePartitionList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err, code: .offsetCommitFailed) }
        if let failed = readPartitionList(list).first(where: { $0.1 != RD_KAFKA_RESP_ERR_NO_ERROR }) {
            throw KafkaError.librdkafka(failed.1, "cannot store offset \(failed.0): \(String(cString: rd_kafka_err2str(failed.1)))", code: .offsetCommitFailed)
        }
    }

    /// Commits offsets to the group coordinator.
    ///
    /// - Parameters:
    ///   - offsets: explicit positions (next offset to read per partition), or nil to commit what
    ///     `storeOffsets` recorded. Nothing to commit is not an error.
    ///   - async: when true, returns at once; failures go to the error handler.
    /// - Important: the synchronous form blocks until the coordinator answers.
    public func commit(_ offsets: [TopicPartitionOffset]? = nil, async: Bool = false) throws(KafkaError) {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        if let offsets {
            guard !offsets.isEmpty else { return }
            list = makePartitionList(offsets)
        }
        defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
        let err = rd_kafka_commit(handle, list, async ? 1 : 0)
        if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        throw KafkaError.librdkafka(err, code: .offsetCommitFailed)
    }

    /// The group's committed offsets for these partitions (nil where none is committed).
    /// - Important: blocks up to `timeoutMs`.
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int) throws(KafkaError) -> [TopicPartition: Int64] {
        try fetchCommitted(handle: handle, partitions: partitions, timeoutMs: timeoutMs)
    }

    // MARK: - Flow control

    /// Stops fetching from these partitions (for backpressure); polling keeps the membership alive.
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        let list = makePartitionList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_pause_partitions(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
    }

    /// Resumes fetching from paused partitions.
    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        let list = makePartitionList(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_resume_partitions(handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err) }
    }

    /// Moves the fetch position of assigned partitions; the next poll returns messages from there.
    /// - Important: blocks up to `timeoutMs`.
    public func seek(_ positions: [TopicPartitionOffset], timeoutMs: Int) throws(KafkaError) {
        let list = makePartitionList(positions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(handle, list, Int32(clamping: timeoutMs)) {
            throw KafkaError.consuming(error)
        }
        if let failed = readPartitionList(list).first(where: { $0.1 != RD_KAFKA_RESP_ERR_NO_ERROR }) {
            throw KafkaError.librdkafka(failed.1, "cannot seek \(failed.0): \(String(cString: rd_kafka_err2str(failed.1)))")
        }
    }

    /// Runs `body` with this consumer's current group metadata (group, generation, member id), the
    /// proof a transactional producer sends with consumed offsets (KIP-447) so that a member
    /// fenced by a rebalance cannot commit them.
    func withGroupMetadata<R>(_ body: (OpaquePointer?) -> R) -> R {
        let metadata = rd_kafka_consumer_group_metadata(handle)
        defer { if let metadata { rd_kafka_consumer_group_metadata_destroy(metadata) } }
        return body(metadata)
    }

    /// Checks that a broker answers a metadata request within `timeoutMs`.
    /// - Throws: `KafkaError` `.brokerUnreachable` (or `.brokerIncompatible` with a diagnosis).
    public func checkConnection(timeoutMs: Int) throws(KafkaError) {
        try requestMetadata(handle: handle, bootstrapServers: bootstrapServers, timeoutMs: timeoutMs) {
            context.lastErrorText.withLock { $0 }
        }
    }

    // MARK: - Internals

    private func fatalError() -> KafkaError? {
        var text = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &text, text.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError.librdkafka(err, decodeCString(text), code: .fatal, isFatal: true)
    }

    private func messageError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaError {
        let where_ = message.pointee.rkt.map { "\(String(cString: rd_kafka_topic_name($0)))[\(message.pointee.partition)]: " } ?? ""
        return KafkaError.librdkafka(message.pointee.err, where_ + String(cString: rd_kafka_message_errstr(message)))
    }
}

/// Committed offsets of a group (the handle's `group.id`) without joining the group.
func fetchCommitted(handle: OpaquePointer, partitions: [TopicPartition], timeoutMs: Int) throws(KafkaError) -> [TopicPartition: Int64] {
    guard !partitions.isEmpty else { return [:] }
    let list = makePartitionList(partitions)
    defer { rd_kafka_topic_partition_list_destroy(list) }
    let err = rd_kafka_committed(handle, list, Int32(clamping: timeoutMs))
    if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(err, code: .offsetCommitFailed) }
    var result: [TopicPartition: Int64] = [:]
    for (item, itemError) in readPartitionList(list) {
        if itemError != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.librdkafka(itemError, "committed offset of \(item.topicPartition): \(String(cString: rd_kafka_err2str(itemError)))")
        }
        if item.offset >= 0 { result[item.topicPartition] = item.offset }
    }
    return result
}

// MARK: - Callbacks

/// What the C callbacks need; owned (retained) by the consumer until after `rd_kafka_destroy`.
final class ConsumerContext: Sendable {
    let rebalanceHandler: (@Sendable (RebalanceEvent) -> Void)?
    let errorHandler: (@Sendable (KafkaError) -> Void)?
    let statisticsHandler: (@Sendable (String) -> Void)?
    let offsetResetHandler: (@Sendable (OffsetReset) -> Void)?
    let assignmentStart: (@Sendable (TopicPartition) -> AssignmentStart)?
    let isShuttingDown = LockedValue(false)
    /// Set once librdkafka delivered an assignment (the cooperative-sticky assignor's state exists then).
    let receivedAssignment = LockedValue(false)
    let lastErrorText = LockedValue<String?>(nil)

    init(
        rebalanceHandler: (@Sendable (RebalanceEvent) -> Void)?, errorHandler: (@Sendable (KafkaError) -> Void)?,
        statisticsHandler: (@Sendable (String) -> Void)?, offsetResetHandler: (@Sendable (OffsetReset) -> Void)?,
        assignmentStart: (@Sendable (TopicPartition) -> AssignmentStart)? = nil
    ) {
        self.offsetResetHandler = offsetResetHandler
        self.assignmentStart = assignmentStart
        self.rebalanceHandler = rebalanceHandler
        self.errorHandler = errorHandler
        self.statisticsHandler = statisticsHandler
    }

    func report(_ error: KafkaError) {
        lastErrorText.withLock { $0 = error.description }
        errorHandler?(error)
    }

    func rebalance(_ handle: OpaquePointer, _ err: rd_kafka_resp_err_t, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        let changed = readPartitionList(partitions).map { $0.0.topicPartition }
        let notify = !isShuttingDown.withLock { $0 }
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            receivedAssignment.withLock { $0 = true }
            let start = notify ? partitions.flatMap { placeByTime(handle, $0) } : nil
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, partitions) { report(KafkaError.consuming(error)) }
            } else {
                _ = rd_kafka_assign(handle, partitions)
            }
            if notify { rebalanceHandler?(RebalanceEvent(kind: .assigned, partitions: changed, start: start)) }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let kind: RebalanceEvent.Kind = rd_kafka_assignment_lost(handle) != 0 ? .lost : .revoked
            if notify { rebalanceHandler?(RebalanceEvent(kind: kind, partitions: changed)) }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, partitions) { report(KafkaError.consuming(error)) }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
        default:
            report(KafkaError.librdkafka(err, "rebalance failed: \(String(cString: rd_kafka_err2str(err)))"))
            _ = rd_kafka_assign(handle, nil)
        }
    }
}

private func context(_ opaque: UnsafeMutableRawPointer?) -> ConsumerContext? {
    opaque.map { Unmanaged<ConsumerContext>.fromOpaque($0).takeUnretainedValue() }
}

private let consumerRebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { handle, err, partitions, opaque in
    guard let handle, let context = context(opaque) else { return }
    context.rebalance(handle, err, partitions)
}

private let consumerErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    handle, err, reason, opaque in
    guard let context = context(opaque) else { return }
    let code = rd_kafka_resp_err_t(rawValue: err)
    var isFatal = false
    if code == RD_KAFKA_RESP_ERR__FATAL { isFatal = true }
    context.report(KafkaError.librdkafka(code, reason.map { String(cString: $0) }, isFatal: isFatal))
}

private let consumerOffsetCommitCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { _, err, offsets, opaque in
    guard let context = context(opaque) else { return }
    if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
        context.report(KafkaError.librdkafka(err, "offset commit failed: \(String(cString: rd_kafka_err2str(err)))", code: .offsetCommitFailed))
    } else if let failed = readPartitionList(offsets).first(where: { $0.1 != RD_KAFKA_RESP_ERR_NO_ERROR }) {
        context.report(KafkaError.librdkafka(failed.1, "offset commit of \(failed.0) failed: \(String(cString: rd_kafka_err2str(failed.1)))", code: .offsetCommitFailed))
    }
}

private let consumerLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, message in
    let record = KafkaLogRecord(
        level: Int(level), facility: facility.map { String(cString: $0) } ?? "",
        client: handle.flatMap { rd_kafka_name($0) }.map { String(cString: $0) } ?? "",
        message: message.map { String(cString: $0) } ?? "")
    KafkaLog.deliver(record)
    // Resets because of an error are logged at warning (rdkafka_offset.c); others at debug.
    if level <= 4, record.facility == "OFFSET", let reset = OffsetReset(logMessage: record.message),
       let handle, let context = context(rd_kafka_opaque(handle)) {
        context.offsetResetHandler?(reset)
    }
}

private let consumerStatisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    _, json, length, opaque in
    guard let context = context(opaque), let json else { return 0 }
    context.statisticsHandler?(String(decoding: UnsafeRawBufferPointer(start: json, count: length), as: UTF8.self))
    return 0  // librdkafka frees the JSON
}

/// A value guarded by a lock (Sendable because every access holds the lock).
final class LockedValue<Value>: @unchecked Sendable {
    // Sendable: `value` is only read or written inside `withLock`, which holds `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
