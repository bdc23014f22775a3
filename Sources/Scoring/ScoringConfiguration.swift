public import Kafka

/// Everything `scorer run` can be told: where to read and write, how to batch, the model, and the
/// operational knobs. Embedders (`scorer demo`, tests) fill one in and hand it to
/// ``ScoringService``.
public struct ScoringConfiguration: Sendable {
    /// Connection and client settings shared by the service's consumer and producer (brokers,
    /// `-X` pass-through properties). The service sets what at-least-once needs on top: group id,
    /// manual offset commits, idempotent producer with `acks=all`.
    public var kafka: KafkaConfig
    /// Topic of impression events.
    public var inputTopic = "impressions"
    /// Topic predictions are produced to.
    public var outputTopic = "predictions"
    /// Topic unusable events are produced to, untouched, with an `error` header.
    public var deadLetterTopic = "impressions.dlq"
    /// Consumer group: instances in the same group share the input partitions.
    public var group = "scorer"
    /// How the group spreads partitions over its members (`partition.assignment.strategy`).
    public enum Assignor: String, Sendable, CaseIterable {
        /// Incremental rebalancing (KIP-429): a member joining or leaving moves only the partitions
        /// that must move; every other partition keeps flowing during the rebalance.
        case cooperativeSticky = "cooperative-sticky"
        /// Eager: every rebalance revokes every partition of every member first.
        case range
        /// Eager, partitions dealt round-robin.
        case roundrobin
    }
    /// The partition assignor; all members of a group must use the same one. cooperative-sticky
    /// (incremental, KIP-429) by default: a member joining, leaving or dying moves only the
    /// partitions that must move (BENCHMARKS.md, "Group chaos").
    public var assignor = Assignor.cooperativeSticky
    /// Static membership (KIP-345, `group.instance.id`): a member that restarts with the same id
    /// within the session timeout takes its partitions back without a rebalance. Unique per
    /// instance (a StatefulSet pod name, for example); nil = dynamic membership.
    public var instanceID: String?
    /// What a consumed event's output is promised: at least once (the default) or exactly once.
    public enum Guarantee: String, Sendable, CaseIterable {
        /// Offsets are committed after the outputs are acknowledged: a crash re-scores a bounded
        /// window, and readers may see an event's output twice.
        case atLeastOnce = "at-least-once"
        /// Kafka transactions (KIP-98, KIP-447): the outputs of a commit interval and the input
        /// offsets they answer commit atomically, so `read_committed` readers see each event's
        /// output once, at the cost of waiting for the commit.
        case exactlyOnce = "exactly-once"
    }
    /// The delivery guarantee (`scorer run --guarantee`).
    public var guarantee = Guarantee.atLeastOnce
    /// The producer's `transactional.id` in exactly-once mode: a restarted instance with the same
    /// id aborts what its predecessor left open and fences it. nil = `scorer-GROUP-INSTANCE_ID`
    /// with `instanceID`, else a random one per process (a crashed instance's open transaction
    /// then holds back `read_committed` readers until the broker aborts it after
    /// `transaction.timeout.ms`).
    public var transactionalID: String?
    /// The model bundle folder (`model.json`, `features.json`, `card.json`, `reference.jsonl`).
    public var modelPath = "models/install-v1"
    /// A second bundle that scores every event too: its probability is published as `p_shadow`
    /// (with `shadow_model`), never as the answer. nil = no shadow.
    public var shadowModelPath: String?
    /// A bundle that answers `canaryPercent` % of the events, chosen by a hash of the event id
    /// (sticky across restarts and instances); those predictions say `"variant":"canary"`, the
    /// others `"variant":"primary"`. nil = no canary.
    public var canaryModelPath: String?
    /// The canary's share of event ids, 0...100.
    public var canaryPercent: Double = 10
    /// Reasons per prediction: the primary model's K largest TreeSHAP contributions by absolute
    /// value (`"reasons"`, `scorer run --explain K`). 0 = no reasons.
    public var explainTop = 0
    /// Largest micro-batch, in events.
    public var maxBatch = 1_000
    /// Longest a micro-batch waits for more events after its first one, in microseconds. The
    /// default 0 scores what has arrived without waiting (lowest latency); under load batches
    /// still fill up to `maxBatch` from what librdkafka has prefetched.
    public var maxWaitMicros = 0
    /// Graceful shutdown budget: drain, commit and leave the group within this time.
    public var shutdownTimeout: Duration = .seconds(30)
    /// Poll the bundle for changes this often and reload it; nil = reload on SIGHUP only.
    public var watchModelInterval: Duration?
    /// Whether SIGHUP reloads the model (turn off when the embedding process uses SIGHUP).
    public var reloadOnSIGHUP = true
    /// Port of the HTTP endpoint with `/metrics`, `/healthz`, `/readyz`; 0 picks a free port;
    /// nil serves no HTTP at all.
    public var metricsPort: Int? = 9464
    /// Address the HTTP endpoint binds to.
    public var metricsHost = "0.0.0.0"
    /// How often acknowledged positions are committed (asynchronously), in milliseconds.
    public var commitIntervalMs = 100
    /// Outputs awaiting acknowledgement above which consumption pauses (backpressure).
    public var maxInFlight = 50_000
    /// How long the consumer blocks in one poll while idle, in milliseconds.
    public var idlePollMs = 100
    /// Longest a revocation waits for the revoked partitions' outputs to be acknowledged.
    public var revocationTimeoutMs = 10_000
    /// How long the startup checks wait for the brokers, in milliseconds.
    public var startupTimeoutMs = 10_000
    /// How often librdkafka reports statistics (consumer lag), in milliseconds.
    public var statisticsIntervalMs = 1_000

    /// A configuration with the defaults of `scorer run` for the given Kafka settings.
    public init(kafka: KafkaConfig) {
        self.kafka = kafka
    }

    /// Checks the options that do not need a broker; throws a one-line ``ScoringError``.
    public func validate() throws(ScoringError) {
        func require(_ condition: Bool, _ message: String) throws(ScoringError) {
            if !condition { throw ScoringError.invalidConfiguration(message) }
        }
        try require(!inputTopic.isEmpty && !outputTopic.isEmpty && !deadLetterTopic.isEmpty, "topic names must not be empty")
        try require(inputTopic != outputTopic && inputTopic != deadLetterTopic, "the input topic must differ from the output and dead-letter topics (the service would consume its own output)")
        try require(!group.isEmpty, "--group must not be empty")
        try require((1...100_000).contains(maxBatch), "--max-batch must be between 1 and 100000 (got \(maxBatch))")
        try require((0...10_000_000).contains(maxWaitMicros), "--max-wait must be between 0 and 10000 ms")
        try require(shutdownTimeout > .zero, "--shutdown-timeout must be positive")
        try require(metricsPort.map { (0...65_535).contains($0) } ?? true, "--metrics-port must be between 0 and 65535")
        try require(maxInFlight >= maxBatch, "--max-in-flight must be at least --max-batch")
        try require(commitIntervalMs > 0, "the commit interval must be positive")
        if let watchModelInterval { try require(watchModelInterval > .zero, "--watch-interval must be positive") }
        try require((0...1_000).contains(explainTop), "--explain must be between 0 and 1000 (got \(explainTop))")
        try require((0...100).contains(canaryPercent), "--canary-percent must be between 0 and 100 (got \(canaryPercent))")
        try require(kafka.properties["group.id"] == nil, "set the consumer group with --group, not -X group.id")
        try require(kafka.properties["partition.assignment.strategy"] == nil, "set the assignor with --assignor, not -X partition.assignment.strategy")
        try require(kafka.properties["group.instance.id"] == nil, "set the static member id with --instance-id, not -X group.instance.id")
        if let instanceID { try require(!instanceID.isEmpty && instanceID.count <= 249, "--instance-id must be 1 to 249 characters") }
        try require(kafka.properties["transactional.id"] == nil, "transactions are set up by --guarantee exactly-once, not -X transactional.id")
        if guarantee == .exactlyOnce {
            try require(kafka.properties["isolation.level"].map { $0 == "read_committed" } ?? true,
                "--guarantee exactly-once reads its input read_committed; remove -X isolation.level")
            if let transactionalID { try require(!transactionalID.isEmpty, "the transactional id must not be empty") }
        }
        for property in Self.managedProperties where kafka.properties[property] != nil {
            throw ScoringError.invalidKafkaConfiguration(
                "-X \(property) is managed by the service for at-least-once delivery (manual commits, idempotent producer, acks=all); remove it")
        }
    }

    /// The consumer group session timeout in force: `kafka.sessionTimeoutMs`, else `-X
    /// session.timeout.ms`, else librdkafka's default (45 s).
    var sessionTimeoutMs: Int {
        kafka.sessionTimeoutMs ?? kafka.properties["session.timeout.ms"].flatMap { Int($0) } ?? 45_000
    }

    /// librdkafka properties the service sets itself and does not let `-X` override.
    static let managedProperties = [
        "enable.auto.commit", "enable.auto.offset.store", "enable.idempotence", "acks", "request.required.acks",
    ]

    /// The consumer's settings: group, manual commits, statistics for lag.
    var consumerConfig: KafkaConfig {
        var config = kafka
        config.groupID = group
        config.consumerProperties["partition.assignment.strategy"] = assignor.rawValue
        if let instanceID { config.consumerProperties["group.instance.id"] = instanceID }
        config.autoCommit = false
        config.autoOffsetStore = false
        // Exactly-once: inputs of aborted upstream transactions are never scored, and committed
        // offsets are fetched only once no transaction of ours still holds them (KIP-447).
        if guarantee == .exactlyOnce { config.consumerProperties["isolation.level"] = "read_committed" }
        if config.autoOffsetReset == nil { config.autoOffsetReset = .earliest }
        config.statisticsIntervalMs = statisticsIntervalMs
        // Little prefetch: `KafkaConsumer` wakes librdkafka's fetchers as soon as its local queue
        // has drained, so 50,000 events keep the pipeline fed while fewer freshly allocated pages
        // are touched per event (BENCHMARKS.md, "Service vs Python baseline"). `-X` still wins.
        let prefetch = "queued.min.messages"
        if config.properties[prefetch] == nil,
           config.consumerProperties[prefetch] == nil
            || config.consumerProperties[prefetch] == KafkaConfig.developmentClusterProperties[prefetch] {
            config.consumerProperties[prefetch] = "50000"
        }
        // Fetch responses of at most 4 MiB instead of librdkafka's 50 MB: a buffer that large is
        // fresh, zeroed memory for every fetch (BENCHMARKS.md, "Service vs Python baseline").
        // librdkafka refuses a fetch.max.bytes below message.max.bytes, so a larger
        // message.max.bytes given with -X raises it to match.
        let responseLimit = "fetch.max.bytes"
        if config.properties[responseLimit] == nil, config.consumerProperties[responseLimit] == nil {
            let largestMessage = (config.properties["message.max.bytes"] ?? config.consumerProperties["message.max.bytes"]).flatMap { Int($0) }
            config.consumerProperties[responseLimit] = String(max(4 << 20, largestMessage ?? 0))
        }
        return config
    }

    /// The `transactional.id` an exactly-once service uses (see ``transactionalID``); nil when
    /// it is random (chosen by the service once).
    var stableTransactionalID: String? {
        transactionalID ?? instanceID.map { "scorer-\(group)-\($0)" }
    }

    /// How long the broker lets a transaction stay open before aborting it, unless `-X
    /// transaction.timeout.ms` says otherwise: short, because a crashed member's open transaction
    /// holds back every `read_committed` reader of its output partitions until then (a restart
    /// with the same transactional id ends it at once). Far above the commit interval.
    static let defaultTransactionTimeoutMs = 10_000

    /// The transactional producer's settings in exactly-once mode.
    func transactionalProducerConfig(transactionalID: String) -> KafkaConfig {
        var config = producerConfig
        config.properties["transactional.id"] = transactionalID
        if config.properties["transaction.timeout.ms"] == nil {
            config.properties["transaction.timeout.ms"] = String(max(Self.defaultTransactionTimeoutMs, commitIntervalMs * 10))
        }
        return config
    }

    /// The producer's settings: idempotent, acknowledged by all in-sync replicas.
    var producerConfig: KafkaConfig {
        var config = kafka
        config.groupID = nil
        config.idempotence = true
        config.acks = .all
        if config.lingerMs == nil { config.lingerMs = 1 }
        // Predictions are keyed by the input key: with the Java client's partitioner (murmur2) a
        // key's prediction lands in the partition number a Java/Kafka Streams producer would pick,
        // so consumers can co-partition predictions with their own keyed topics.
        if config.properties["partitioner"] == nil { config.properties["partitioner"] = "murmur2_random" }
        return config
    }
}
