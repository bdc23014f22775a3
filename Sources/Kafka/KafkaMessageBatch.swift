import CRdKafka
import Foundation

/// Messages returned by one `KafkaConsumer.poll`, copied out of librdkafka into one contiguous
/// byte arena (keys, values and header names/values back to back) plus a small fixed-size record
/// per message, so a batch costs a handful of allocations however many messages it holds.
///
/// A `KafkaMessage` is a view into the batch: its `key` and `value` are slices of the arena, not
/// copies. Reuse a batch across polls with `KafkaConsumer.poll(into:maxMessages:timeoutMs:)` to keep
/// its capacity.
public struct KafkaMessageBatch: RandomAccessCollection, Sendable {
    // @usableFromInline (here and below): `KafkaMessage.withUnsafeKeyAndValueBytes` is inlinable so
    // callers in other modules get it specialized (unspecialized, its generic metadata look-ups
    // were a tenth of `scorer broker bench passthrough`'s time).
    @usableFromInline struct Record: Sendable {
        var topicIndex: Int32
        var partition: Int32
        var offset: Int64
        var timestampMs: Int64
        @usableFromInline var keyStart: Int
        @usableFromInline var keyCount: Int  // -1: null key
        @usableFromInline var valueStart: Int
        @usableFromInline var valueCount: Int  // -1: null value
        var headerStart: Int32
        var headerCount: Int32
    }

    struct HeaderRecord: Sendable {
        var nameStart: Int
        var nameCount: Int
        var valueStart: Int
        var valueCount: Int  // -1: null value
    }

    /// The batch's contents, shared copy-on-write: a `KafkaMessage` holds one reference to it
    /// (one retain per message view instead of one per array).
    @usableFromInline final class Storage: @unchecked Sendable {
        // Sendable: a Storage is only mutated by KafkaMessageBatch's mutating methods, and only
        // after `isKnownUniquelyReferenced` proved no message, batch copy or other thread holds
        // it (otherwise a fresh Storage is made); once shared it is never mutated again.
        @usableFromInline var arena: [UInt8] = []
        @usableFromInline var records: [Record] = []
        var headerRecords: [HeaderRecord] = []
        var topics: [String] = []

        func copy() -> Storage {
            let copy = Storage()
            copy.arena = arena
            copy.records = records
            copy.headerRecords = headerRecords
            copy.topics = topics
            return copy
        }
    }

    var storage = Storage()

    /// Keys, values and header bytes of every message, back to back.
    public var arena: [UInt8] { storage.arena }
    var records: [Record] { storage.records }
    var topics: [String] { storage.topics }

    public init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.records.count }

    public subscript(position: Int) -> KafkaMessage {
        precondition(position >= 0 && position < storage.records.count, "message index out of range")
        return KafkaMessage(storage: storage, record: storage.records[position])
    }

    /// Empties the batch, keeping its capacity when no message of it is still referenced.
    public mutating func removeAll() {
        guard isKnownUniquelyReferenced(&storage) else {
            storage = Storage()
            return
        }
        storage.arena.removeAll(keepingCapacity: true)
        storage.records.removeAll(keepingCapacity: true)
        storage.headerRecords.removeAll(keepingCapacity: true)
        storage.topics.removeAll(keepingCapacity: true)
    }

    /// For each partition present, the offset to commit once every message of this batch from it
    /// is processed (the highest offset + 1).
    public var nextOffsets: [TopicPartitionOffset] {
        var highest: [TopicPartition: Int64] = [:]
        for record in records {
            let key = TopicPartition(topic: topics[Int(record.topicIndex)], partition: Int(record.partition))
            highest[key] = Swift.max(highest[key] ?? -1, record.offset)
        }
        return highest.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value + 1) }
            .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    // MARK: - Filling (consumer only)

    /// Copies librdkafka messages into the batch and destroys them (and sets their slots to nil),
    /// except messages carrying an error, which go to `failed` for the caller to report and destroy.
    /// Headers are copied only when `readingHeaders` (see `KafkaConsumer.init`'s `readsHeaders`).
    ///
    /// Hand-written hot path (per consumed message): the arrays are moved out of the shared
    /// storage into locals for the loop, so appends pay no class-property exclusivity checks;
    /// `benchmarks/kafka_throughput.sh` (consume) is the measurement.
    mutating func fill(
        from messages: UnsafeMutableBufferPointer<UnsafeMutablePointer<rd_kafka_message_t>?>,
        readingHeaders: Bool,
        topicCache: inout [(OpaquePointer, Int32)],
        failed: (UnsafeMutablePointer<rd_kafka_message_t>) -> Void
    ) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        var arena: [UInt8] = []
        var records: [Record] = []
        var headerRecords: [HeaderRecord] = []
        var topics: [String] = []
        swap(&arena, &storage.arena)
        swap(&records, &storage.records)
        swap(&headerRecords, &storage.headerRecords)
        swap(&topics, &storage.topics)
        defer {
            swap(&arena, &storage.arena)
            swap(&records, &storage.records)
            swap(&headerRecords, &storage.headerRecords)
            swap(&topics, &storage.topics)
        }
        records.reserveCapacity(records.count + messages.count)
        for slot in messages.indices {
            guard let message = messages[slot] else { continue }
            messages[slot] = nil
            let m = message.pointee
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                failed(message)
                continue
            }
            var topicIndex: Int32 = -1
            if let rkt = m.rkt {
                for (handle, index) in topicCache where handle == rkt {
                    topicIndex = index
                    break
                }
                if topicIndex < 0 {
                    topicIndex = Int32(topics.count)
                    topics.append(String(cString: rd_kafka_topic_name(rkt)))
                    topicCache.append((rkt, topicIndex))
                }
            } else {
                topicIndex = Int32(topics.count)
                topics.append("")
            }
            var record = Record(
                topicIndex: topicIndex, partition: m.partition, offset: m.offset,
                timestampMs: rd_kafka_message_timestamp(message, nil),
                keyStart: arena.count, keyCount: -1, valueStart: 0, valueCount: -1,
                headerStart: Int32(headerRecords.count), headerCount: 0)
            if let key = m.key {
                arena.append(contentsOf: UnsafeRawBufferPointer(start: key, count: m.key_len))
                record.keyCount = m.key_len
            }
            record.valueStart = arena.count
            if let payload = m.payload {
                arena.append(contentsOf: UnsafeRawBufferPointer(start: payload, count: m.len))
                record.valueCount = m.len
            }
            var headers: OpaquePointer? = nil
            if readingHeaders, rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers {
                var index = 0
                var name: UnsafePointer<CChar>? = nil
                var value: UnsafeRawPointer? = nil
                var size = 0
                while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                    let nameStart = arena.count
                    if let name { arena.append(contentsOf: UnsafeRawBufferPointer(start: name, count: strlen(name))) }
                    let valueStart = arena.count
                    if let value { arena.append(contentsOf: UnsafeRawBufferPointer(start: value, count: size)) }
                    headerRecords.append(HeaderRecord(
                        nameStart: nameStart, nameCount: valueStart - nameStart, valueStart: valueStart,
                        valueCount: value == nil ? -1 : size))
                    index += 1
                }
                record.headerCount = Int32(index)
            }
            records.append(record)
            rd_kafka_message_destroy(message)
        }
    }
}

/// One consumed message: a view into its `KafkaMessageBatch` (no copy of key or value).
public struct KafkaMessage: Sendable {
    @usableFromInline let storage: KafkaMessageBatch.Storage
    /// A copy of the message's record, so reading its fields needs no access to the storage.
    @usableFromInline let record: KafkaMessageBatch.Record

    public var topic: String { storage.topics[Int(record.topicIndex)] }
    public var partition: Int { Int(record.partition) }
    public var offset: Int64 { record.offset }
    /// Message timestamp in ms since 1970 (create time or log-append time), nil when absent.
    public var timestampMs: Int64? { record.timestampMs >= 0 ? record.timestampMs : nil }
    /// Key bytes (a slice of the batch arena), nil for a null key.
    public var key: ArraySlice<UInt8>? {
        record.keyCount < 0 ? nil : storage.arena[record.keyStart..<(record.keyStart + record.keyCount)]
    }
    /// Value bytes (a slice of the batch arena), nil for a null value.
    public var value: ArraySlice<UInt8>? {
        record.valueCount < 0 ? nil : storage.arena[record.valueStart..<(record.valueStart + record.valueCount)]
    }
    /// Number of headers.
    public var headerCount: Int { Int(record.headerCount) }
    /// The headers (copied out of the arena).
    public var headers: [KafkaHeader] {
        (0..<Int(record.headerCount)).map { index in
            let header = storage.headerRecords[Int(record.headerStart) + index]
            let name = String(decoding: storage.arena[header.nameStart..<(header.nameStart + header.nameCount)], as: UTF8.self)
            let value = header.valueCount < 0 ? nil : Array(storage.arena[header.valueStart..<(header.valueStart + header.valueCount)])
            return KafkaHeader(name: name, value: value)
        }
    }
    /// The value of the first header named `name` (nil when absent or null).
    public func header(_ name: String) -> ArraySlice<UInt8>? {
        let wanted = Array(name.utf8)
        for index in 0..<Int(record.headerCount) {
            let header = storage.headerRecords[Int(record.headerStart) + index]
            if header.nameCount == wanted.count,
                storage.arena[header.nameStart..<(header.nameStart + header.nameCount)].elementsEqual(wanted)
            {
                return header.valueCount < 0 ? nil : storage.arena[header.valueStart..<(header.valueStart + header.valueCount)]
            }
        }
        return nil
    }
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// Calls `body` with the key and value bytes in place (nil for null), without copying: the
    /// fast path to forward a message (`KafkaProducer.produce(topic:keyBytes:valueBytes:...)`).
    @inlinable
    public func withUnsafeKeyAndValueBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer?, UnsafeRawBufferPointer?) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let outcome: Swift.Result<Result, Failure> = storage.arena.withUnsafeBytes { arena in
            let key = record.keyCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: arena[record.keyStart..<(record.keyStart + record.keyCount)])
            let value = record.valueCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: arena[record.valueStart..<(record.valueStart + record.valueCount)])
            do throws(Failure) { return .success(try body(key, value)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// The position to store/commit once this message is processed (`offset + 1`).
    public var nextOffset: TopicPartitionOffset { TopicPartitionOffset(topic: topic, partition: partition, offset: offset + 1) }
}
