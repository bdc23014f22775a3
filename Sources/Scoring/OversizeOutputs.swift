import Kafka

/// What the service publishes when an output cannot go out whole: a dead letter cut down to fit.
///
/// An output too large for a Kafka message (a dead letter carries the original event, so an event
/// close to `message.max.bytes` no longer fits with its headers; or a huge input key copied into a
/// prediction) must neither stop the service nor stall its partition: a restart would meet the
/// same event again. Instead it goes to the dead-letter topic with its value (and, if needed, key)
/// cut to fit and the headers `truncated: true`, `original.size` (value bytes) and, when the key
/// was cut, `original.key.size`. Nothing is lost: the dead letter's `source.*` headers name the
/// input record, whose full bytes stay in the input topic for its retention.
struct OversizeOutputs: Sendable {
    /// The producer's `message.max.bytes` (librdkafka refuses anything larger at once).
    let messageMaxBytes: Int
    /// Bytes kept for a record's framing (record batch header, varints) besides key, value and
    /// headers, so that what `fits` accepts librdkafka accepts too.
    static let framingAllowance = 512
    /// Value bytes kept when the broker itself refused an output as too large: its limit
    /// (`max.message.bytes` of the topic) is unknown here, so keep a small prefix.
    static let valueBytesAfterBrokerRefusal = 8 * 1024
    /// Key bytes kept in a cut-down dead letter.
    static let keptKeyBytes = 1024

    /// librdkafka's default `message.max.bytes`.
    static let defaultMessageMaxBytes = 1_000_000

    init(messageMaxBytes: Int) {
        self.messageMaxBytes = messageMaxBytes
    }

    /// The limit a producer configuration implies (`-X message.max.bytes`, else librdkafka's default).
    init(producerConfig config: KafkaConfig) {
        let configured = config.properties["message.max.bytes"].flatMap { Int($0) }
        self.init(messageMaxBytes: configured ?? Self.defaultMessageMaxBytes)
    }

    /// Whether a message of these parts fits under `message.max.bytes`.
    func fits(keyCount: Int, valueCount: Int, headers: [KafkaHeader]) -> Bool {
        keyCount + valueCount + Self.headerBytes(headers) + Self.framingAllowance <= messageMaxBytes
    }

    /// The dead letter that stands for an output that cannot be published whole.
    ///
    /// - Parameters:
    ///   - key: the output's key.
    ///   - value: the output's value (for a dead letter, the original event).
    ///   - headers: the output's headers; an `error` header is replaced by `error` when given.
    ///   - error: the one-line reason to put in the `error` header (nil keeps the existing one).
    ///   - valueLimit: at most this many value bytes are kept (less if the rest does not fit).
    func cutDown(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], error: String?,
        valueLimit: Int? = nil
    ) -> (key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]) {
        var kept = headers.filter { !Self.addedHeaderNames.contains($0.name) && (error == nil || $0.name != "error") }
        if let error { kept.insert(KafkaHeader(name: "error", string: error), at: 0) }
        let valueCount = value?.count ?? 0
        kept.append(KafkaHeader(name: "truncated", string: "true"))
        kept.append(KafkaHeader(name: "original.size", string: String(valueCount)))
        var keptKey = key.map { Array($0) }
        if let key, key.count > Self.keptKeyBytes {
            keptKey = Array(key.prefix(Self.keptKeyBytes))
            kept.append(KafkaHeader(name: "original.key.size", string: String(key.count)))
        }
        let room = messageMaxBytes - Self.framingAllowance - (keptKey?.count ?? 0) - Self.headerBytes(kept)
        let keep = max(0, min(valueCount, room, valueLimit ?? Int.max))
        let keptValue = value.map { Array($0.prefix(keep)) } ?? []
        return (keptKey, keptValue, kept)
    }

    private static let addedHeaderNames: Set<String> = ["truncated", "original.size", "original.key.size"]

    /// Bytes the headers take in a record (names, values and a length prefix for each).
    static func headerBytes(_ headers: [KafkaHeader]) -> Int {
        headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) + 10 }
    }
}
