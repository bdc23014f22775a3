import CRdKafka
import Foundation

/// One partition of one topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int
    public init(topic: String, partition: Int) {
        self.topic = topic
        self.partition = partition
    }
    public var description: String { "\(topic)[\(partition)]" }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}

/// A position in one partition: `offset` is the offset of the *next* message to read, as Kafka
/// commits it (after processing the message at offset 41, commit 42).
public struct TopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int
    public var offset: Int64
    public init(topic: String, partition: Int, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
    public var description: String { "\(topic)[\(partition)]@\(offset)" }

    /// Logical offset for `assign`/`seek`: the oldest message still stored.
    public static let beginning: Int64 = -2
    /// Logical offset for `assign`/`seek`: the next message produced.
    public static let end: Int64 = -1
}

/// A message header: a name and an optional byte value (Kafka allows null header values).
public struct KafkaHeader: Hashable, Sendable {
    public var name: String
    public var value: [UInt8]?
    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }
    public init(name: String, string: String) {
        self.name = name
        self.value = Array(string.utf8)
    }
    /// The value decoded as UTF-8 (nil for a null value).
    public var stringValue: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// The outcome of one produced message, reported once per successful `KafkaProducer.produce` call.
public struct DeliveryReport: Sendable, Hashable {
    /// The value the caller passed as `opaque` to `produce`.
    public var opaque: UInt64
    public var topic: String
    /// The partition the message went to (or -1 when it failed before partitioning).
    public var partition: Int
    /// The offset the broker assigned, or -1 when not known (failure, or `acks=0`).
    public var offset: Int64
    /// nil when the broker acknowledged the message; otherwise why it was not delivered.
    public var error: KafkaError? {
        get { failure?.error }
        set { failure = newValue.map(Failure.init) }
    }

    /// Whether the broker acknowledged the message (`error` is nil), without materialising the error.
    public var isDelivered: Bool { failure == nil }

    /// The refused message's key, value and headers, kept only when the broker refused it as too
    /// large (``KafkaError/isMessageTooLarge``), so the caller can publish a cut-down copy instead
    /// of losing it; nil otherwise.
    public var refusedMessage: RefusedMessage? { failure?.refused }

    /// The error, out of line: failures are rare and `KafkaError` is large. Stored inline, making
    /// and copying every report went through `KafkaError`'s value witnesses, about a tenth of the
    /// producing thread in `benchmarks/kafka_throughput.sh` produce.
    private var failure: Failure?

    public init(opaque: UInt64, topic: String, partition: Int, offset: Int64, error: KafkaError?) {
        self.opaque = opaque
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.failure = error.map(Failure.init)
    }

    /// A report of a delivered message (no error).
    init(opaque: UInt64, topic: String, partition: Int, offset: Int64) {
        self.opaque = opaque
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.failure = nil
    }

    /// A report of a message that was not delivered, keeping the message when it was refused as
    /// too large.
    init(opaque: UInt64, topic: String, partition: Int, offset: Int64, error: KafkaError, refused: RefusedMessage?) {
        self.init(opaque: opaque, topic: topic, partition: partition, offset: offset)
        self.failure = Failure(error, refused: refused)
    }

    private final class Failure: Sendable, Hashable {
        let error: KafkaError
        let refused: RefusedMessage?
        init(_ error: KafkaError) {
            self.error = error
            self.refused = nil
        }
        init(_ error: KafkaError, refused: RefusedMessage?) {
            self.error = error
            self.refused = refused
        }
        static func == (a: Failure, b: Failure) -> Bool { a.error == b.error && a.refused == b.refused }
        func hash(into hasher: inout Hasher) { hasher.combine(error) }
    }
}

/// A copy of a message the broker refused (see ``DeliveryReport/refusedMessage``).
public struct RefusedMessage: Sendable, Hashable {
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]

    public init(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) {
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// A change of the partitions assigned to a consumer, reported to its rebalance handler.
public struct RebalanceEvent: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// The partitions are now this consumer's; messages from them follow.
        case assigned
        /// The partitions are about to be taken away: finish and commit their work now; the
        /// consumer gives them up when the handler returns.
        case revoked
        /// The partitions were already lost (session timed out): commits for them will fail and
        /// another member may already process them.
        case lost
    }
    public var kind: Kind
    public var partitions: [TopicPartition]
    /// For `.assigned` with an `assignmentStart` that placed partitions by time: where they start.
    public var start: AssignmentStartReport?
}

/// A consumer's fetch position moved by `auto.offset.reset` because of an error: the broker no
/// longer (or not yet) has the offset it asked for, typically "Offset out of range" after the
/// log start passed an unconsumed position. With `earliest` the events between the old position
/// and the log start were never read: data loss the application must report. librdkafka itself
/// only logs a warning (`OFFSET`), which ``KafkaConsumer`` recognises and reports through its
/// `offsetResetHandler`.
public struct OffsetReset: Sendable, Hashable {
    public var topic: String
    public var partition: Int
    /// The offset the consumer asked for, when librdkafka knew it.
    public var fromOffset: Int64?
    /// Where it goes now, as librdkafka names it (`BEGINNING`, `END`, or an offset).
    public var to: String
    /// librdkafka's reason, e.g. `fetch failed due to requested offset not available on the
    /// broker: Broker: Offset out of range`.
    public var reason: String

    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// Parses librdkafka's warning `TOPIC [P]: offset reset (at offset X, broker B) to [cached
    /// BEGINNING offset ]Y: REASON` (rdkafka_offset.c, `rd_kafka_offset_reset`); nil for any other line.
    public init?(logMessage message: String) {
        guard let marker = message.range(of: "]: offset reset (at offset "),
              let open = message[..<marker.lowerBound].lastIndex(of: "["),
              let partition = Int(message[message.index(after: open)..<marker.lowerBound]) else { return nil }
        var topic = message[..<open]
        if topic.last == " " { topic = topic.dropLast() }
        let rest = message[marker.upperBound...]
        guard let comma = rest.firstIndex(of: ","), let toRange = rest.range(of: ") to ") else { return nil }
        let target = rest[toRange.upperBound...]
        guard let colon = target.range(of: ": ") else { return nil }
        var to = target[..<colon.lowerBound]
        if to.hasPrefix("cached ") { to = to.dropFirst("cached ".count) }
        self.topic = String(topic)
        self.partition = partition
        fromOffset = Int64(rest[..<comma])
        self.to = String(to)
        reason = String(target[colon.upperBound...])
    }
}

// MARK: - Partition lists

/// Builds an `rd_kafka_topic_partition_list_t` the caller must destroy.
func makePartitionList(_ items: [(topic: String, partition: Int, offset: Int64)]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    let list = rd_kafka_topic_partition_list_new(Int32(max(items.count, 1)))!
    for item in items {
        let element = rd_kafka_topic_partition_list_add(list, item.topic, Int32(item.partition))!
        element.pointee.offset = item.offset
    }
    return list
}

func makePartitionList(_ partitions: [TopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    makePartitionList(partitions.map { ($0.topic, $0.partition, Int64(RD_KAFKA_OFFSET_INVALID)) })
}

func makePartitionList(_ offsets: [TopicPartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
    makePartitionList(offsets.map { ($0.topic, $0.partition, $0.offset) })
}

/// Reads the elements of a partition list (topic, partition, offset, per-partition error).
func readPartitionList(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [(TopicPartitionOffset, rd_kafka_resp_err_t)] {
    guard let list, let elements = list.pointee.elems else { return [] }
    var result: [(TopicPartitionOffset, rd_kafka_resp_err_t)] = []
    result.reserveCapacity(Int(list.pointee.cnt))
    for index in 0..<Int(list.pointee.cnt) {
        let element = elements[index]
        result.append((
            TopicPartitionOffset(topic: String(cString: element.topic), partition: Int(element.partition), offset: element.offset),
            element.err
        ))
    }
    return result
}

// MARK: - Handles

/// Creates an `rd_kafka_t`; on failure the conf is destroyed here (librdkafka leaves it to us).
func makeHandle(_ type: rd_kafka_type_t, conf: OpaquePointer, attachLog: Bool = true) throws(KafkaError) -> OpaquePointer {
    var errorText = [CChar](repeating: 0, count: 512)
    if attachLog { KafkaLog.attach(to: conf) }
    guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw KafkaError(code: .invalidConfiguration, message: "librdkafka refused the configuration: \(detail)")
    }
    return handle
}

/// The value a configuration holds for `name` (set, or librdkafka's default); nil for an unknown name.
func confValue(_ conf: OpaquePointer, _ name: String) -> String? {
    var size = 0
    guard rd_kafka_conf_get(conf, name, nil, &size) == RD_KAFKA_CONF_OK, size > 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: size)
    guard rd_kafka_conf_get(conf, name, &buffer, &size) == RD_KAFKA_CONF_OK else { return nil }
    return decodeCString(buffer)
}

/// Milliseconds since 1970, the unit of Kafka timestamps.
func nowMs() -> Int64 {
    Int64((Date().timeIntervalSince1970 * 1000).rounded())
}

/// Monotonic milliseconds, for deadlines.
func monotonicMs() -> Int64 {
    Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
}

/// Decodes a NUL-terminated C string held in a fixed buffer.
func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension NSLock {
    /// `withLock` that keeps a typed error type (Foundation's is untyped `rethrows`).
    func locked<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}
