import CRdKafka
import Foundation

/// Read-only questions about a cluster: topic metadata, partition watermarks and any group's
/// committed offsets, hence consumer lag — without joining the group, so it can run in a separate
/// process (`scorer lag`) next to the members it watches.
///
/// - Important: every query blocks up to its timeout: call from a thread of your own.
public final class KafkaAdmin: @unchecked Sendable {
    // Sendable: `handle` and `bootstrapServers` are immutable; rd_kafka_t is thread-safe for the
    // calls made here (metadata, watermarks, committed), which keep no state in this object.
    private let handle: OpaquePointer
    private let eventQueue: OpaquePointer
    private let lastErrorText = LockedValue<String?>(nil)
    private let config: KafkaConfig
    public let bootstrapServers: String

    /// Creates a reader. `config.groupID` is ignored: groups are named per query.
    public init(config: KafkaConfig) throws(KafkaError) {
        var config = config
        config.groupID = nil
        // A consumer-type handle (so it takes consumer settings, never producer-only ones): it never
        // subscribes, it only issues metadata/offset requests.
        let conf = try config.makeConf(forConsumer: true)
        rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_ERROR))
        handle = try makeHandle(RD_KAFKA_CONSUMER, conf: conf)
        eventQueue = rd_kafka_queue_get_main(handle)
        bootstrapServers = config.bootstrapServers
        self.config = config
    }

    deinit {
        rd_kafka_queue_destroy(eventQueue)
        rd_kafka_destroy(handle)
    }

    /// Metadata of one topic.
    public struct TopicMetadata: Sendable, Hashable {
        public var name: String
        /// Partition ids, ascending.
        public var partitions: [Int]
        /// Leader broker id per partition (same order as `partitions`).
        public var leaders: [Int]
    }

    /// The topic's partitions, or nil when the topic does not exist.
    ///
    /// Asks for the list of all topics rather than for this one topic: a request naming a topic
    /// makes brokers with `auto.create.topics.enable` (and the development cluster) create it.
    /// - Throws: `KafkaError` `.brokerUnreachable` when no broker answers within `timeoutMs`.
    public func topicMetadata(_ topic: String, timeoutMs: Int) throws(KafkaError) -> TopicMetadata? {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, Int32(clamping: timeoutMs))
        defer { if let metadata { rd_kafka_metadata_destroy(metadata) } }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            try checkConnection(timeoutMs: 0, failure: err)
            throw KafkaError.librdkafka(err)
        }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            guard String(cString: entry.topic) == topic else { continue }
            if entry.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || entry.err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC {
                return nil
            }
            if entry.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.librdkafka(entry.err, "metadata of topic '\(topic)': \(String(cString: rd_kafka_err2str(entry.err)))") }
            let partitions = (0..<Int(entry.partition_cnt)).map { entry.partitions[$0] }.sorted { $0.id < $1.id }
            return TopicMetadata(name: topic, partitions: partitions.map { Int($0.id) }, leaders: partitions.map { Int($0.leader) })
        }
        return nil
    }

    /// Low and high watermarks of one partition: the first offset still stored and the offset the
    /// next produced message will get.
    public func watermarks(topic: String, partition: Int, timeoutMs: Int) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_query_watermark_offsets(handle, topic, Int32(partition), &low, &high, Int32(clamping: timeoutMs))
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            try checkConnection(timeoutMs: 0, failure: err)
            throw KafkaError.librdkafka(err, "watermarks of \(topic)[\(partition)]: \(String(cString: rd_kafka_err2str(err)))")
        }
        return (low, high)
    }

    /// The offsets `group` has committed for these partitions (absent where none is committed).
    public func committedOffsets(group: String, partitions: [TopicPartition], timeoutMs: Int) throws(KafkaError) -> [TopicPartition: Int64] {
        // rd_kafka_committed asks the coordinator of the handle's group.id, so a short-lived
        // handle carries the group id; it never subscribes, so it never joins the group.
        var config = self.config
        config.groupID = group
        let conf = try config.makeConf(forConsumer: true)
        let groupHandle = try makeHandle(RD_KAFKA_CONSUMER, conf: conf)
        defer { rd_kafka_destroy(groupHandle) }
        return try fetchCommitted(handle: groupHandle, partitions: partitions, timeoutMs: timeoutMs)
    }

    /// Lag of one partition for one group.
    public struct PartitionLag: Sendable, Hashable {
        public var partition: Int
        public var lowWatermark: Int64
        public var highWatermark: Int64
        /// The group's committed offset (next offset it will read), nil when it has committed none.
        public var committed: Int64?
        /// Messages produced but not yet committed by the group: high - committed, or
        /// high - low when the group has committed nothing for the partition.
        public var lag: Int64 { highWatermark - Swift.max(committed ?? lowWatermark, lowWatermark) }
    }

    /// Lag of `group` on every partition of `topic`, in partition order.
    /// - Throws: `KafkaError` `.unknownTopic` when the topic does not exist.
    public func lag(group: String, topic: String, timeoutMs: Int) throws(KafkaError) -> [PartitionLag] {
        guard let metadata = try topicMetadata(topic, timeoutMs: timeoutMs) else {
            throw KafkaError(code: .unknownTopic, message: "topic '\(topic)' does not exist on \(bootstrapServers)")
        }
        let partitions = metadata.partitions.map { TopicPartition(topic: topic, partition: $0) }
        let committed = try committedOffsets(group: group, partitions: partitions, timeoutMs: timeoutMs)
        return try partitions.map { (partition) throws(KafkaError) in
            let marks = try watermarks(topic: topic, partition: partition.partition, timeoutMs: timeoutMs)
            return PartitionLag(
                partition: partition.partition, lowWatermark: marks.low, highWatermark: marks.high,
                committed: committed[partition])
        }
    }

    // MARK: - Topics

    /// Creates `name` with `partitions` partitions, replication factor 1 and the broker's default
    /// topic settings (CreateTopics through librdkafka's admin API).
    ///
    /// Returns once the broker has created the topic (it waits up to `timeoutMs` for that); on a
    /// cluster of several brokers the others may list it in their metadata a moment later.
    /// librdkafka's mock cluster has no CreateTopics: use `DevelopmentCluster.createTopic` there.
    /// - Throws: `KafkaError` `.invalidArgument` for an empty name or fewer than 1 partition;
    ///   `.brokerUnreachable` when no broker answers within `timeoutMs`; otherwise the broker's
    ///   refusal, with its code (`librdkafkaName` `TOPIC_ALREADY_EXISTS` when the topic exists,
    ///   `TOPIC_EXCEPTION` for a name Kafka does not allow); `.timedOut` when a broker
    ///   that answers metadata requests does not answer CreateTopics (the mock cluster).
    public func createTopic(_ name: String, partitions: Int, timeoutMs: Int) throws(KafkaError) {
        guard !name.isEmpty, partitions >= 1 else {
            throw KafkaError.invalidArgument("a topic needs a name and at least one partition (got '\(name)', \(partitions))")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        func text() -> String { String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        guard let newTopic = rd_kafka_NewTopic_new(name, Int32(clamping: partitions), 1, &errorText, errorText.count) else {
            throw KafkaError.invalidArgument("cannot create topic '\(name)': \(text())")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        guard let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS) else {
            throw KafkaError.invalidArgument("librdkafka could not allocate admin options")
        }
        defer { rd_kafka_AdminOptions_destroy(options) }
        let timeout = Int32(clamping: max(timeoutMs, 1))
        for set in [rd_kafka_AdminOptions_set_request_timeout, rd_kafka_AdminOptions_set_operation_timeout] {
            let err = set(options, timeout, &errorText, errorText.count)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError.invalidArgument("timeout \(timeoutMs) ms: \(text())") }
        }
        // A queue of its own for the one result event (the main queue carries error events).
        let resultQueue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(resultQueue) }
        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, resultQueue)
        // librdkafka answers within the request timeout; the margin covers its own scheduling.
        guard let event = rd_kafka_queue_poll(resultQueue, timeout &+ 5_000) else {
            throw KafkaError(code: .timedOut, message: "creating topic '\(name)' on \(bootstrapServers): no result within \(timeoutMs) ms")
        }
        defer { rd_kafka_event_destroy(event) }
        let requestError = rd_kafka_event_error(event)
        if requestError == RD_KAFKA_RESP_ERR__TIMED_OUT {
            // Unreachable, or reachable but silent: a broker without CreateTopics (librdkafka's
            // mock cluster) never answers it.
            try checkConnection(timeoutMs: 2_000)
            throw KafkaError(
                code: .timedOut,
                message: "creating topic '\(name)' on \(bootstrapServers): no answer to CreateTopics within \(timeoutMs) ms, though the broker answers metadata requests (a broker without CreateTopics, such as librdkafka's mock cluster, never answers it)",
                librdkafkaCode: requestError.rawValue, librdkafkaName: String(cString: rd_kafka_err2name(requestError)), isRetriable: true)
        }
        if requestError != RD_KAFKA_RESP_ERR_NO_ERROR {
            try checkConnection(timeoutMs: 0, failure: requestError)
            throw KafkaError.librdkafka(requestError, "cannot create topic '\(name)' on \(bootstrapServers): \(String(cString: rd_kafka_event_error_string(event)))")
        }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
              let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1, let topic = results[0] else {
            throw KafkaError.invalidArgument("creating topic '\(name)': librdkafka returned no result for it")
        }
        let topicError = rd_kafka_topic_result_error(topic)
        if topicError != RD_KAFKA_RESP_ERR_NO_ERROR {
            let detail = rd_kafka_topic_result_error_string(topic).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(topicError))
            throw KafkaError.librdkafka(topicError, "cannot create topic '\(name)' on \(bootstrapServers): \(detail)")
        }
    }

    // MARK: - Connection

    /// Checks that a broker answers a metadata request within `timeoutMs`.
    /// - Throws: `KafkaError` `.brokerUnreachable` (or `.brokerIncompatible` with a diagnosis).
    public func checkConnection(timeoutMs: Int) throws(KafkaError) {
        try requestMetadata(handle: handle, bootstrapServers: bootstrapServers, timeoutMs: timeoutMs) {
            drainErrors()
            return lastErrorText.withLock { $0 }
        }
    }

    /// Turns a transport/timeout failure into the one-line unreachable (or KRaft) error.
    private func checkConnection(timeoutMs: Int, failure: rd_kafka_resp_err_t) throws(KafkaError) {
        switch failure {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
            drainErrors()
            let last = lastErrorText.withLock { $0 }
            if let last, let diagnosis = KafkaError.kraftDiagnosis(for: last) {
                throw KafkaError(code: .brokerIncompatible, message: diagnosis, isFatal: true)
            }
            throw KafkaError(
                code: .brokerUnreachable,
                message: "no answer from \(bootstrapServers) in time" + (last.map { " (last error: \($0))" } ?? ""),
                librdkafkaCode: failure.rawValue, librdkafkaName: String(cString: rd_kafka_err2name(failure)), isRetriable: true)
        default:
            return
        }
    }

    private func drainErrors() {
        while let event = rd_kafka_queue_poll(eventQueue, 0) {
            if Int32(rd_kafka_event_type(event)) == RD_KAFKA_EVENT_ERROR {
                let text = String(cString: rd_kafka_event_error_string(event))
                lastErrorText.withLock { $0 = text }
            }
            rd_kafka_event_destroy(event)
        }
    }
}
