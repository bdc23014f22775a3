/// The one error type of the `Scoring` library.
///
/// Every startup check and runtime failure of the service is reported through this type; its
/// `description` is a single line meant to be printed as is (`error: <description>`).
public struct ScoringError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, as a code that can grow without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String

        /// The model bundle could not be loaded or failed validation.
        public static let invalidModel = Code(name: "invalid-model")
        /// A topic the service needs does not exist on the cluster.
        public static let topicMissing = Code(name: "topic-missing")
        /// The brokers could not be reached (or the client cannot talk to them).
        public static let brokerUnreachable = Code(name: "broker-unreachable")
        /// The Kafka client configuration was rejected (for example a bad `-X` property).
        public static let invalidKafkaConfiguration = Code(name: "invalid-kafka-configuration")
        /// A run option is out of range.
        public static let invalidConfiguration = Code(name: "invalid-configuration")
        /// The broker refused or lost an output message after all retries: the service stops
        /// without committing past it, so a restart re-scores the event.
        public static let deliveryFailed = Code(name: "delivery-failed")
        /// Exactly-once mode: the transactional producer failed for good (fenced by a newer
        /// instance with the same transactional id, or the broker's transactions broke); its open
        /// transaction is never committed, so a restart re-scores its events.
        public static let transactionFailed = Code(name: "transaction-failed")
        /// Committing offsets failed.
        public static let commitFailed = Code(name: "commit-failed")
        /// Consuming failed with a fatal error.
        public static let consumerFailed = Code(name: "consumer-failed")
        /// Graceful shutdown ran out of time with outputs still unacknowledged.
        public static let shutdownTimedOut = Code(name: "shutdown-timed-out")
        /// The metrics HTTP server could not start.
        public static let metricsServerFailed = Code(name: "metrics-server-failed")

        public var description: String { name }
    }

    /// What went wrong.
    public let code: Code
    /// One line saying what happened and, where it helps, what to do.
    public let message: String

    public var description: String { message }

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func invalidModel(path: String, role: ModelRole = .primary, reason: String) -> ScoringError {
        let what = role == .primary ? "model bundle" : "\(role.rawValue) model bundle"
        return ScoringError(.invalidModel, "\(what) '\(path)' is invalid: \(reason)")
    }

    static func topicMissing(_ topic: String, role: String, brokers: String) -> ScoringError {
        ScoringError(
            .topicMissing,
            "\(role) topic '\(topic)' does not exist on \(brokers); create it or pass --\(role)-topic"
        )
    }

    static func brokerUnreachable(brokers: String, reason: String) -> ScoringError {
        ScoringError(.brokerUnreachable, "cannot reach Kafka at \(brokers): \(reason)")
    }

    static func invalidKafkaConfiguration(_ reason: String) -> ScoringError {
        ScoringError(.invalidKafkaConfiguration, "invalid Kafka configuration: \(reason)")
    }

    static func invalidConfiguration(_ reason: String) -> ScoringError {
        ScoringError(.invalidConfiguration, reason)
    }
}
