import CRdKafka

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Configuration of a Kafka client (producer, consumer or admin reader).
///
/// Typed fields cover what the product tunes; `properties` passes any other librdkafka property
/// through unchanged (SASL, TLS, `socket.*`, ...; see librdkafka's CONFIGURATION.md), and wins over
/// the typed fields when both name the same property. A field left `nil` keeps librdkafka's default.
/// Unknown properties and invalid values are rejected when a client is created (or by `validate()`)
/// with a `KafkaError` of code `.invalidConfiguration` naming the property.
public struct KafkaConfig: Sendable, Hashable {
    /// How many broker acknowledgements a produce request waits for (`acks`).
    public enum Acks: String, Sendable, Hashable, CaseIterable {
        /// All in-sync replicas (`acks=all`): the durable choice, required by idempotence.
        case all = "all"
        /// The partition leader only (`acks=1`).
        case leader = "1"
        /// No acknowledgement (`acks=0`): deliveries are reported as soon as sent.
        case none = "0"
    }

    /// Message set compression (`compression.codec`).
    public enum Compression: String, Sendable, Hashable, CaseIterable {
        case none, gzip, snappy, lz4, zstd
    }

    /// Where a consumer group without a committed offset starts (`auto.offset.reset`).
    public enum OffsetReset: String, Sendable, Hashable, CaseIterable {
        case earliest, latest
    }

    /// Comma-separated `host:port` list (`bootstrap.servers`).
    public var bootstrapServers: String
    /// Client id shown in broker logs and metrics (`client.id`).
    public var clientID: String?
    /// Consumer group id (`group.id`); required by `KafkaConsumer` and by lag queries.
    public var groupID: String?
    /// Producer acknowledgements (`acks`).
    public var acks: Acks?
    /// How long the producer waits to fill a batch (`linger.ms`).
    public var lingerMs: Int?
    /// Maximum producer batch size in bytes (`batch.size`).
    public var batchSize: Int?
    /// Producer compression (`compression.codec`).
    public var compression: Compression?
    /// Idempotent producer: no duplicates or reordering on retries (`enable.idempotence`).
    public var idempotence: Bool?
    /// How long the broker may hold an empty Fetch (`fetch.wait.max.ms`).
    public var fetchWaitMaxMs: Int?
    /// Consumer group session timeout (`session.timeout.ms`).
    public var sessionTimeoutMs: Int?
    /// Interval of statistics JSON delivered to a statistics handler; 0 disables (`statistics.interval.ms`).
    public var statisticsIntervalMs: Int?
    /// Where a group without committed offsets starts reading (`auto.offset.reset`).
    public var autoOffsetReset: OffsetReset?
    /// Commit stored offsets periodically in the background (`enable.auto.commit`). The library's
    /// default is `false`: consumers commit explicitly with `KafkaConsumer.commit`.
    public var autoCommit: Bool
    /// Store the offset of every message handed to the application automatically
    /// (`enable.auto.offset.store`). The library's default is `false`: consumers store offsets of
    /// finished work with `KafkaConsumer.storeOffsets`, so a crash never skips unfinished messages.
    public var autoOffsetStore: Bool
    /// Any librdkafka property, passed through as is; wins over the typed fields.
    public var properties: [String: String]
    /// librdkafka properties applied to consumers only (and overridden by `properties`), so one
    /// configuration can serve producers without "consumer property ignored" warnings.
    public var consumerProperties: [String: String] = [:]

    /// A configuration with librdkafka's defaults, except manual offset store and commit.
    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.autoCommit = false
        self.autoOffsetStore = false
        self.properties = properties
    }

    // MARK: - Presets

    /// Settings for librdkafka's mock cluster (`DevelopmentCluster`, `scorer broker`).
    ///
    /// The mock cluster holds an empty Fetch for the whole `fetch.wait.max.ms` without waking when
    /// data arrives, so every consumer hop would add up to 500 ms with the default; and librdkafka
    /// 2.0.2 stops fetching each time its local fetch queue fills (`KafkaConsumer` wakes it again
    /// once the queue has drained, see `FetchRestarter`), which larger limits make rarer.
    /// This preset sets `fetch.wait.max.ms=1` (the smallest hold: up to 1 ms per consumer hop, at
    /// the cost of up to 1,000 empty fetches a second per idle consumer), `queued.min.messages=200000`,
    /// `queued.max.messages.kbytes=262144` (consumer-only settings: they go to
    /// `consumerProperties`). Real brokers wake a Fetch as soon as data arrives: do not
    /// use this preset against them (it makes consumers poll the broker constantly).
    public static let developmentClusterProperties: [String: String] = [
        "fetch.wait.max.ms": "1",
        "queued.min.messages": "200000",
        "queued.max.messages.kbytes": "262144",
    ]

    /// A configuration for `DevelopmentCluster` brokers: `developmentClusterProperties` applied.
    public static func developmentCluster(bootstrapServers: String) -> KafkaConfig {
        var config = KafkaConfig(bootstrapServers: bootstrapServers)
        config.applyDevelopmentClusterPreset()
        return config
    }

    /// Applies `developmentClusterProperties` (see there) to `consumerProperties`, without
    /// overriding `fetchWaitMaxMs` or properties already set.
    public mutating func applyDevelopmentClusterPreset() {
        for (key, value) in KafkaConfig.developmentClusterProperties
        where properties[key] == nil && consumerProperties[key] == nil {
            if key == "fetch.wait.max.ms", fetchWaitMaxMs != nil { continue }
            consumerProperties[key] = value
        }
    }

    // MARK: - librdkafka properties

    /// The librdkafka properties this configuration sets, typed fields first, then `properties`
    /// (which win), sorted by name. Consumer-only settings are included only for consumers, and
    /// producer-only ones only for producers: librdkafka's own property table decides (see
    /// `propertyScopes`), so `-X fetch.wait.max.ms=0` given to a command that runs both clients
    /// reaches the consumer without a "consumer property ignored by this producer" warning.
    public func librdkafkaProperties(forConsumer: Bool) -> [(name: String, value: String)] {
        var all: [String: String] = ["bootstrap.servers": bootstrapServers]
        func set(_ name: String, _ value: (some CustomStringConvertible)?) {
            if let value { all[name] = value.description }
        }
        set("client.id", clientID)
        set("group.id", groupID)
        set("acks", acks?.rawValue)
        set("linger.ms", lingerMs)
        set("batch.size", batchSize)
        set("compression.codec", compression?.rawValue)
        set("enable.idempotence", idempotence)
        set("statistics.interval.ms", statisticsIntervalMs)
        if forConsumer {
            set("fetch.wait.max.ms", fetchWaitMaxMs)
            set("session.timeout.ms", sessionTimeoutMs)
            set("auto.offset.reset", autoOffsetReset?.rawValue)
            set("enable.auto.commit", autoCommit)
            set("enable.auto.offset.store", autoOffsetStore)
            for (name, value) in consumerProperties { all[name] = value }
        }
        for (name, value) in properties { all[name] = value }
        let otherClient: PropertyScope = forConsumer ? .producer : .consumer
        return all.filter { KafkaConfig.propertyScopes[$0.key] != otherClient }
            .sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
    }

    /// Checks every property against librdkafka without connecting anywhere.
    ///
    /// - Throws: `KafkaError` with code `.invalidConfiguration` naming the first bad property.
    public func validate(forConsumer: Bool = false) throws(KafkaError) {
        let conf = try makeConf(forConsumer: forConsumer)
        rd_kafka_conf_destroy(conf)
    }

    /// Builds an `rd_kafka_conf_t` the caller owns (destroy it, or hand it to `rd_kafka_new`).
    func makeConf(forConsumer: Bool, extra: [(String, String)] = []) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.invalidArgument("librdkafka could not allocate a configuration")
        }
        for (name, value) in librdkafkaProperties(forConsumer: forConsumer) + extra {
            if let problem = KafkaConfig.set(name, value, on: conf) {
                rd_kafka_conf_destroy(conf)
                throw problem
            }
        }
        return conf
    }

    /// Sets one property; returns the error instead of throwing so callers can clean up first.
    static func set(_ name: String, _ value: String, on conf: OpaquePointer) -> KafkaError? {
        var errorText = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
        switch result {
        case RD_KAFKA_CONF_OK: return nil
        case RD_KAFKA_CONF_UNKNOWN:
            return .invalidConfiguration(property: name, "unknown librdkafka property")
        default:
            let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .invalidConfiguration(property: name, "invalid value '\(value)': \(detail)")
        }
    }
}

// MARK: - Property scopes

extension KafkaConfig {
    /// The kind of client librdkafka applies a property to.
    enum PropertyScope: Sendable, Hashable {
        case consumer, producer, both
    }

    /// The scope of every property and alias the linked librdkafka knows, read once from its own
    /// property table (`rd_kafka_conf_properties_show`, the source of CONFIGURATION.md), so it is
    /// right for whichever version is linked. A name missing here (a typo) is given to every client,
    /// which rejects it by name.
    static let propertyScopes: [String: PropertyScope] = readPropertyScopes()

    private static func readPropertyScopes() -> [String: PropertyScope] {
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return [:] }
        rd_kafka_conf_properties_show(stream)
        fclose(stream)
        guard let buffer else { return [:] }
        defer { free(buffer) }
        return parsePropertyScopes(String(cString: buffer))
    }

    /// Parses the `name | C/P | ...` rows of librdkafka's property table (global and topic tables).
    /// A name listed in both with different scopes counts as `.both`.
    static func parsePropertyScopes(_ table: String) -> [String: PropertyScope] {
        func trimmed(_ text: Substring) -> Substring {
            text.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed().reduce(into: "") { $0.append($1) }
        }
        var scopes: [String: PropertyScope] = [:]
        for line in table.split(separator: "\n") {
            let columns = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard columns.count == 3 else { continue }
            let name = String(trimmed(columns[0]))
            guard !name.isEmpty, !name.contains(" "), name != "Property", !name.hasPrefix("-") else { continue }
            let scope: PropertyScope
            switch trimmed(columns[1]) {
            case "C": scope = .consumer
            case "P": scope = .producer
            case "*", "C/P": scope = .both
            default: continue
            }
            if let earlier = scopes[name], earlier != scope {
                scopes[name] = .both
            } else {
                scopes[name] = scope
            }
        }
        return scopes
    }
}
