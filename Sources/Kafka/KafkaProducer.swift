import CRdKafka
import Foundation

/// Produces messages to Kafka and reports their delivery.
///
/// Every successful `produce` call yields exactly one `DeliveryReport` carrying the caller's
/// `opaque`, drained with `pollDeliveries`. When librdkafka's local queue is full
/// (`queue.buffering.max.messages` / `.kbytes`), `produce` waits, serving delivery reports, until
/// there is room: it never drops a message. Reports drained while waiting are kept and returned by
/// the next `pollDeliveries`.
///
/// - Important: `produce`, `pollDeliveries` and `flush` may block (up to their timeouts, or while
///   the local queue is full). Call them from a thread of your own (see `KafkaThread`), never from
///   Swift's cooperative thread pool. Call `flush` before releasing the producer: messages still
///   queued when it is deinitialised are purged and never delivered.
public final class KafkaProducer: @unchecked Sendable {
    // Sendable: `handle` and `eventQueue` are immutable after init and librdkafka's rd_kafka_t and
    // queues are thread-safe; every mutable property below is only touched while holding `lock`.
    private let handle: OpaquePointer
    private let eventQueue: OpaquePointer
    private let lock = NSLock()
    private var topicHandles: [String: OpaquePointer] = [:]
    private var lastTopic: (name: String, handle: OpaquePointer)?
    private var pendingReports: [DeliveryReport] = []
    private var outstanding = 0
    private var lastErrorText: String?
    private let errorHandler: (@Sendable (KafkaError) -> Void)?
    private let statisticsHandler: (@Sendable (String) -> Void)?
    /// The bootstrap servers this producer was created with (for error messages).
    public let bootstrapServers: String

    /// Creates a producer.
    ///
    /// - Parameters:
    ///   - config: connection and producer settings; consumer-only fields are ignored.
    ///   - errorHandler: called with client-level errors (broker down, authentication, fatal
    ///     errors) on the thread that calls `pollDeliveries`/`flush`/`produce`. Most of these are
    ///     informational: librdkafka retries by itself; `isFatal` errors mean recreate the producer.
    ///   - statisticsHandler: called with librdkafka's statistics JSON every
    ///     `config.statisticsIntervalMs`, on the polling thread.
    /// - Throws: `KafkaError` (`.invalidConfiguration`) naming a bad property.
    public init(
        config: KafkaConfig,
        errorHandler: (@Sendable (KafkaError) -> Void)? = nil,
        statisticsHandler: (@Sendable (String) -> Void)? = nil
    ) throws(KafkaError) {
        let conf = try config.makeConf(forConsumer: false)
        // Delivery reports, errors and statistics arrive as events on the main queue.
        rd_kafka_conf_set_events(conf, Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_STATS))
        handle = try makeHandle(RD_KAFKA_PRODUCER, conf: conf)
        eventQueue = rd_kafka_queue_get_main(handle)
        self.errorHandler = errorHandler
        self.statisticsHandler = statisticsHandler
        self.bootstrapServers = config.bootstrapServers
    }

    deinit {
        for topic in topicHandles.values { rd_kafka_topic_destroy(topic) }
        rd_kafka_queue_destroy(eventQueue)
        rd_kafka_destroy(handle)
    }

    // MARK: - Producing

    /// Produces one message; its bytes are copied, so the buffers may be reused at once.
    ///
    /// - Parameters:
    ///   - topic: destination topic.
    ///   - partition: destination partition, or nil to let the partitioner choose by key.
    ///   - keyBytes: key bytes, or nil for no key.
    ///   - valueBytes: value bytes, or nil for a null value (a tombstone).
    ///   - headers: message headers (copied).
    ///   - timestampMs: message timestamp in ms since 1970, or nil for "now".
    ///   - opaque: any value; returned in this message's `DeliveryReport`.
    /// - Throws: `KafkaError` when librdkafka rejects the message outright (unknown partition,
    ///   message larger than `message.max.bytes`, fatal producer error). A full local queue is not
    ///   an error: the call waits and serves delivery reports until there is room.
    public func produce(
        topic: String, partition: Int? = nil, keyBytes key: UnsafeRawBufferPointer?,
        valueBytes value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [], timestampMs: Int64? = nil, opaque: UInt64 = 0
    ) throws(KafkaError) {
        // One lock round trip on the hot path: count the message as outstanding (undone below if
        // librdkafka refuses it) and look up the topic handle, most often the previous one.
        let cached: OpaquePointer? = lock.withLock {
            outstanding += 1
            if let last = lastTopic, last.name == topic { return last.handle }
            if let known = topicHandles[topic] {
                lastTopic = (topic, known)
                return known
            }
            return nil
        }
        let topicHandle: OpaquePointer
        if let cached {
            topicHandle = cached
        } else {
            do {
                topicHandle = try self.topicHandle(topic)
            } catch {
                lock.withLock { outstanding -= 1 }
                throw error
            }
        }
        var headerList: OpaquePointer? = nil
        if !headers.isEmpty { headerList = makeHeaderList(headers) }
        let count = 5 + (key == nil ? 0 : 1) + (timestampMs == nil ? 0 : 1) + (headerList == nil ? 0 : 1)
        let failure: KafkaError? = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: count) { fields in
            var index = 0
            func add(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                var field = rd_kafka_vu_t()
                field.vtype = type
                fill(&field)
                fields.initializeElement(at: index, to: field)
                index += 1
            }
            add(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = topicHandle }
            add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = Int32(partition ?? Int(RD_KAFKA_PARTITION_UA)) }
            add(RD_KAFKA_VTYPE_VALUE) {
                $0.u.mem.ptr = value.flatMap { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
                $0.u.mem.size = value?.count ?? 0
            }
            if let key {
                add(RD_KAFKA_VTYPE_KEY) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    $0.u.mem.size = key.count
                }
            }
            if let timestampMs { add(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestampMs } }
            if let headerList { add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headerList } }
            add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
            add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(opaque)) }
            defer { fields.baseAddress!.deinitialize(count: index) }
            while true {
                guard let error = rd_kafka_produceva(handle, fields.baseAddress, index) else {
                    return nil  // accepted; librdkafka owns the header list now
                }
                if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    rd_kafka_error_destroy(error)
                    serveEventsKeepingReports(timeoutMs: 10, max: 10_000)  // make room
                    continue
                }
                if let headerList { rd_kafka_headers_destroy(headerList) }
                return KafkaError.consuming(error)
            }
        }
        if let failure {
            lock.withLock { outstanding -= 1 }
            throw failure
        }
    }

    /// Produces one message from byte arrays (see the raw-buffer variant for details).
    public func produce(
        topic: String, partition: Int? = nil, key: [UInt8]?, value: [UInt8]?,
        headers: [KafkaHeader] = [], timestampMs: Int64? = nil, opaque: UInt64 = 0
    ) throws(KafkaError) {
        func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws(KafkaError) -> R) throws(KafkaError) -> R {
            guard let bytes else { return try body(nil) }
            return try bytes.withUnsafeBytes { buffer in Result { () throws(KafkaError) in try body(buffer) } }.get()
        }
        try withOptionalBytes(key) { (keyBuffer) throws(KafkaError) in
            try withOptionalBytes(value) { (valueBuffer) throws(KafkaError) in
                try produce(
                    topic: topic, partition: partition, keyBytes: keyBuffer, valueBytes: valueBuffer, headers: headers,
                    timestampMs: timestampMs, opaque: opaque)
            }
        }
    }

    // MARK: - Delivery reports

    /// Number of produced messages whose delivery report has not yet been returned to the caller.
    public var outstandingCount: Int { lock.withLock { outstanding } }

    /// Returns up to `max` delivery reports, waiting up to `timeoutMs` for the first one.
    ///
    /// Also serves error and statistics events (calling the handlers given to `init`).
    /// - Important: blocks up to `timeoutMs`; call from a thread of your own.
    public func pollDeliveries(max: Int = 10_000, timeoutMs: Int = 0) -> [DeliveryReport] {
        var reports: [DeliveryReport] = []
        pollDeliveries(max: max, timeoutMs: timeoutMs) { reports.append($0) }
        return reports
    }

    /// Hands up to `max` delivery reports to `body`, one at a time, waiting up to `timeoutMs`
    /// for the first one; returns how many it handed over.
    ///
    /// The form for hot loops: no array is built (collecting reports in an array was a third of
    /// the producing thread's time in `benchmarks/kafka_throughput.sh` produce). `body` runs on
    /// this thread, without any lock of the producer held. Also serves error and statistics events.
    /// - Important: blocks up to `timeoutMs`; call from a thread of your own.
    @discardableResult
    public func pollDeliveries(max: Int = 10_000, timeoutMs: Int = 0, _ body: (DeliveryReport) -> Void) -> Int {
        var served = 0
        let pending: [DeliveryReport] = lock.withLock {
            guard !pendingReports.isEmpty else { return [] }
            if pendingReports.count <= max {
                // Hand the whole buffer over (no copy): removing a prefix moved every report
                // behind it, a tenth of the producing thread in kafka_throughput.sh produce.
                defer { pendingReports = [] }
                return pendingReports
            }
            let taken = Array(pendingReports.prefix(max))
            pendingReports.removeFirst(max)
            return taken
        }
        for report in pending { body(report) }
        served = pending.count
        if served < max {
            serveEvents(timeoutMs: served == 0 ? timeoutMs : 0, max: max - served) {
                body($0)
                served += 1
            }
        }
        if served > 0 { lock.withLock { outstanding -= served } }
        return served
    }

    /// Waits until every produced message has a delivery report (kept for `pollDeliveries`).
    ///
    /// - Throws: `KafkaError` `.timedOut` when messages are still in flight after `timeoutMs`.
    /// - Important: blocks up to `timeoutMs`; call from a thread of your own.
    public func flush(timeoutMs: Int) throws(KafkaError) {
        let deadline = monotonicMs() + Int64(timeoutMs)
        // rd_kafka_flush with a zero timeout tells the broker threads to send without lingering.
        _ = rd_kafka_flush(handle, 0)
        while rd_kafka_outq_len(handle) > 0 {
            let remaining = deadline - monotonicMs()
            if remaining <= 0 {
                throw KafkaError(
                    code: .timedOut,
                    message: "flush: \(rd_kafka_outq_len(handle)) messages still in flight after \(timeoutMs) ms "
                        + "(brokers \(bootstrapServers))\(lock.withLock { lastErrorText.map { "; last error: \($0)" } ?? "" })",
                    isRetriable: true)
            }
            serveEventsKeepingReports(timeoutMs: Int(min(remaining, 50)), max: 100_000)
        }
    }

    // MARK: - Transactions

    /// Registers this producer's `transactional.id` with the transaction coordinator: aborts (or
    /// completes) a transaction a previous producer with the same id left open, and fences that
    /// producer. Call once, before the first `beginTransaction`; needs `transactional.id` set.
    ///
    /// - Throws: `KafkaError`; `.isRetriable` ones may be retried with the same call.
    /// - Important: blocks up to `timeoutMs`.
    public func initTransactions(timeoutMs: Int) throws(KafkaError) {
        if let error = rd_kafka_init_transactions(handle, Int32(clamping: timeoutMs)) { throw KafkaError.consuming(error) }
    }

    /// Starts a transaction: every message produced until `commitTransaction` or
    /// `abortTransaction` belongs to it. Local only (no broker round trip).
    public func beginTransaction() throws(KafkaError) {
        if let error = rd_kafka_begin_transaction(handle) { throw KafkaError.consuming(error) }
    }

    /// Adds consumed positions (the next offset to read per partition) to the current
    /// transaction, with `consumer`'s group metadata (KIP-447): they become the group's committed
    /// offsets if, and only if, the transaction commits.
    ///
    /// - Throws: `KafkaError`; `.requiresAbort` means abort the transaction, `.isFatal` that this
    ///   producer was fenced or broke and must be recreated.
    /// - Important: blocks up to `timeoutMs`.
    public func sendOffsetsToTransaction(_ offsets: [TopicPartitionOffset], consumer: KafkaConsumer, timeoutMs: Int) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = makePartitionList(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let failure: OpaquePointer? = consumer.withGroupMetadata { metadata in
            rd_kafka_send_offsets_to_transaction(handle, list, metadata, Int32(clamping: timeoutMs))
        }
        if let failure { throw KafkaError.consuming(failure) }
    }

    /// Commits the current transaction: waits until every message of it is delivered, then makes
    /// its messages visible to `read_committed` readers and its offsets committed, atomically.
    ///
    /// - Throws: `KafkaError`; `.isRetriable` ones may be retried with the same call,
    ///   `.requiresAbort` ones need `abortTransaction`, `.isFatal` ones a new producer.
    /// - Important: blocks up to `timeoutMs`. Delivery reports must keep being polled meanwhile
    ///   (from another thread): the commit waits for them.
    public func commitTransaction(timeoutMs: Int) throws(KafkaError) {
        if let error = rd_kafka_commit_transaction(handle, Int32(clamping: timeoutMs)) { throw KafkaError.consuming(error) }
    }

    /// Aborts the current transaction: messages not yet sent are purged (their delivery reports
    /// say so), and what was written is marked aborted, never shown to `read_committed` readers.
    ///
    /// - Important: blocks up to `timeoutMs`.
    public func abortTransaction(timeoutMs: Int) throws(KafkaError) {
        if let error = rd_kafka_abort_transaction(handle, Int32(clamping: timeoutMs)) { throw KafkaError.consuming(error) }
    }

    /// Checks that a broker answers a metadata request within `timeoutMs`.
    ///
    /// - Throws: `KafkaError` `.brokerUnreachable` (or `.brokerIncompatible` with a diagnosis).
    /// - Important: blocks up to `timeoutMs`.
    public func checkConnection(timeoutMs: Int) throws(KafkaError) {
        try requestMetadata(handle: handle, bootstrapServers: bootstrapServers, timeoutMs: timeoutMs) {
            serveEventsKeepingReports(timeoutMs: 0, max: 100_000)
            return lock.withLock { lastErrorText }
        }
    }

    // MARK: - Internals

    private func topicHandle(_ topic: String) throws(KafkaError) -> OpaquePointer {
        if let existing = lock.withLock({ topicHandles[topic] }) { return existing }
        guard !topic.isEmpty, let created = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError.invalidArgument("cannot produce to topic '\(topic)'")
        }
        return lock.withLock {
            if let raced = topicHandles[topic] {
                rd_kafka_topic_destroy(created)
                return raced
            }
            topicHandles[topic] = created
            return created
        }
    }

    private func makeHeaderList(_ headers: [KafkaHeader]) -> OpaquePointer {
        let list = rd_kafka_headers_new(headers.count)!
        for header in headers {
            var name = header.name
            name.withUTF8 { nameBytes in
                nameBytes.withMemoryRebound(to: CChar.self) { nameChars in
                    if let value = header.value {
                        value.withUnsafeBytes { _ = rd_kafka_header_add(list, nameChars.baseAddress, nameChars.count, $0.baseAddress, $0.count) }
                    } else {
                        _ = rd_kafka_header_add(list, nameChars.baseAddress, nameChars.count, nil, 0)
                    }
                }
            }
        }
        return list
    }

    /// `serveEvents`, keeping the delivery reports in `pendingReports` for the next `pollDeliveries`.
    private func serveEventsKeepingReports(timeoutMs: Int, max: Int) {
        var spill: [DeliveryReport] = []
        serveEvents(timeoutMs: timeoutMs, max: max) { spill.append($0) }
        guard !spill.isEmpty else { return }
        lock.withLock {
            if pendingReports.isEmpty { pendingReports = spill } else { pendingReports.append(contentsOf: spill) }
        }
    }

    /// Serves events from the main queue: delivery reports go to `collect`, errors and statistics
    /// to their handlers. Waits up to `timeoutMs` for the first event, then takes what is ready
    /// without waiting.
    private func serveEvents(timeoutMs: Int, max: Int, collect: (DeliveryReport) -> Void) {
        var served = 0
        var wait = timeoutMs
        // Reports come in runs of one topic: name it once per run, not once per message.
        var lastTopic: (handle: OpaquePointer, name: String)? = nil
        func topicName(_ handle: OpaquePointer?) -> String {
            guard let handle else { return "" }
            if let lastTopic, lastTopic.handle == handle { return lastTopic.name }
            let name = String(cString: rd_kafka_topic_name(handle))
            lastTopic = (handle, name)
            return name
        }
        while served < max, let event = rd_kafka_queue_poll(eventQueue, Int32(clamping: wait)) {
            wait = 0
            defer { rd_kafka_event_destroy(event) }
            switch Int32(rd_kafka_event_type(event)) {
            case RD_KAFKA_EVENT_DR:
                while let message = rd_kafka_event_message_next(event) {
                    let report = DeliveryReport(message, topic: topicName(message.pointee.rkt))
                    collect(report)
                    served += 1
                }
            case RD_KAFKA_EVENT_ERROR:
                let error = KafkaError.librdkafka(
                    rd_kafka_event_error(event), String(cString: rd_kafka_event_error_string(event)),
                    isFatal: rd_kafka_event_error_is_fatal(event) != 0)
                lock.withLock { lastErrorText = error.description }
                errorHandler?(error)
            case RD_KAFKA_EVENT_STATS:
                if let statisticsHandler, let json = rd_kafka_event_stats(event) { statisticsHandler(String(cString: json)) }
            default:
                break
            }
        }
    }
}

extension DeliveryReport {
    init(_ message: UnsafePointer<rd_kafka_message_t>, topic: String) {
        let opaque = UInt64(UInt(bitPattern: message.pointee._private))
        let partition = Int(message.pointee.partition)
        guard message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR else {
            self.init(opaque: opaque, topic: topic, partition: partition, offset: message.pointee.offset)
            return
        }
        let error = KafkaError.librdkafka(message.pointee.err, code: .deliveryFailed)
        self.init(
            opaque: opaque, topic: topic, partition: partition, offset: message.pointee.offset, error: error,
            refused: error.isMessageTooLarge ? RefusedMessage(copying: message) : nil)
    }
}

extension RefusedMessage {
    /// Copies key, value and headers out of a delivery report's message (still owned by librdkafka).
    init(copying message: UnsafePointer<rd_kafka_message_t>) {
        func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
            guard let pointer else { return nil }
            return Array(UnsafeRawBufferPointer(start: pointer, count: count))
        }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var value: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(KafkaHeader(
                    name: name.map { String(cString: $0) } ?? "",
                    value: value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }))
                index += 1
            }
        }
        self.init(
            key: bytes(message.pointee.key, message.pointee.key_len),
            value: bytes(message.pointee.payload, message.pointee.len), headers: headers)
    }
}

/// Asks the cluster for broker metadata; maps failure to a one-line `KafkaError`.
func requestMetadata(
    handle: OpaquePointer, bootstrapServers: String, timeoutMs: Int, lastError: () -> String?
) throws(KafkaError) {
    var metadata: UnsafePointer<rd_kafka_metadata>? = nil
    let err = rd_kafka_metadata(handle, 0, nil, &metadata, Int32(clamping: timeoutMs))
    if let metadata { rd_kafka_metadata_destroy(metadata) }
    guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
    let last = lastError()
    if let last, let diagnosis = KafkaError.kraftDiagnosis(for: last) {
        throw KafkaError(code: .brokerIncompatible, message: diagnosis, librdkafkaCode: err.rawValue, isFatal: true)
    }
    throw KafkaError(
        code: .brokerUnreachable,
        message: "no broker at \(bootstrapServers) answered within \(timeoutMs) ms"
            + (last.map { " (last error: \($0))" } ?? ""),
        librdkafkaCode: err.rawValue, librdkafkaName: String(cString: rd_kafka_err2name(err)), isRetriable: true)
}
