import CRdKafka

/// The one error type of the `Kafka` library.
///
/// Every failure — bad configuration, a broker that cannot be reached, a delivery that failed, a
/// commit the coordinator refused — is a `KafkaError`. `code` says what kind of failure it is in terms
/// callers branch on; `librdkafkaCode` and `librdkafkaName` carry librdkafka's own error code when the
/// failure came from librdkafka. `description` is always one line, fit for a log line or a CLI error.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A configuration property is unknown or has an invalid value.
        public static let invalidConfiguration = Code("invalid-configuration")
        /// An argument given to the API is out of range (for example an empty topic name).
        public static let invalidArgument = Code("invalid-argument")
        /// No broker answered within the time allowed.
        public static let brokerUnreachable = Code("broker-unreachable")
        /// The broker speaks a protocol this librdkafka cannot parse (old librdkafka vs KRaft broker).
        public static let brokerIncompatible = Code("broker-incompatible")
        /// An operation did not finish within its timeout.
        public static let timedOut = Code("timed-out")
        /// The topic (or partition) does not exist on the cluster.
        public static let unknownTopic = Code("unknown-topic")
        /// A message could not be delivered (reported in a `DeliveryReport`).
        public static let deliveryFailed = Code("delivery-failed")
        /// Committing or fetching committed offsets failed.
        public static let offsetCommitFailed = Code("offset-commit-failed")
        /// The client is in an unrecoverable state and must be recreated.
        public static let fatal = Code("fatal")
        /// The development cluster could not be started or changed.
        public static let developmentCluster = Code("development-cluster")
        /// Any other error reported by librdkafka.
        public static let librdkafka = Code("librdkafka")
    }

    /// What kind of failure this is.
    public let code: Code
    /// librdkafka's `rd_kafka_resp_err_t` value, when librdkafka reported the failure.
    public let librdkafkaCode: Int32?
    /// librdkafka's symbolic name for `librdkafkaCode` (for example `_TRANSPORT`), when there is one.
    public let librdkafkaName: String?
    /// True when the client that reported this can no longer be used.
    public let isFatal: Bool
    /// True when retrying the same operation may succeed.
    public let isRetriable: Bool
    /// True when a transactional producer's current transaction can no longer commit: abort it
    /// (`KafkaProducer.abortTransaction`), rewind the inputs to the committed offsets, and go on.
    public let requiresAbort: Bool
    /// A human readable explanation (one line).
    public let message: String

    public init(
        code: Code, message: String, librdkafkaCode: Int32? = nil, librdkafkaName: String? = nil,
        isFatal: Bool = false, isRetriable: Bool = false, requiresAbort: Bool = false
    ) {
        self.code = code
        self.requiresAbort = requiresAbort
        self.message = KafkaError.oneLine(message)
        self.librdkafkaCode = librdkafkaCode
        self.librdkafkaName = librdkafkaName
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    public var description: String {
        if let librdkafkaName { return "Kafka \(code): \(message) [\(librdkafkaName)]" }
        return "Kafka \(code): \(message)"
    }

    /// True when a message was refused for its size: larger than the producer's
    /// `message.max.bytes`, or than the broker's or topic's limit (`MSG_SIZE_TOO_LARGE`,
    /// `RECORD_LIST_TOO_LARGE`).
    public var isMessageTooLarge: Bool {
        librdkafkaCode == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue
            || librdkafkaCode == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue
    }

    /// True when the group coordinator refused a request because the group is rebalancing
    /// (`REBALANCE_IN_PROGRESS`).
    public var isRebalanceInProgress: Bool {
        librdkafkaCode == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}

// MARK: - Factories

extension KafkaError {
    static func invalidConfiguration(property: String, _ detail: String) -> KafkaError {
        KafkaError(code: .invalidConfiguration, message: "property '\(property)': \(detail)")
    }

    static func invalidArgument(_ detail: String) -> KafkaError {
        KafkaError(code: .invalidArgument, message: detail)
    }

    static func developmentCluster(_ detail: String) -> KafkaError {
        KafkaError(code: .developmentCluster, message: detail)
    }

    /// The librdkafka version this process is linked against, as `major.minor.patch`.
    public static var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }

    /// True when the linked librdkafka is older than 2.2, the first version that parses the
    /// ApiVersions response of KRaft-mode brokers (Kafka 3.3+ in KRaft mode, all of Kafka 4.x).
    static var librdkafkaMisparsesKRaftApiVersions: Bool { rd_kafka_version() < 0x0202_0000 }

    /// The one-line diagnosis for "ApiVersionRequest failed: Local: Read underflow" from an old
    /// librdkafka, or nil when `text` is not that failure or librdkafka is new enough.
    static func kraftDiagnosis(for text: String) -> String? {
        guard librdkafkaMisparsesKRaftApiVersions, text.contains("Read underflow") else { return nil }
        return "librdkafka \(librdkafkaVersion) cannot talk to KRaft-mode Kafka brokers (ApiVersion response "
            + "'Read underflow'); use librdkafka 2.2 or newer (Ubuntu 24.04 ships 2.3; on older systems "
            + "'make modern-librdkafka' in the scorer's repository)"
    }

    /// Maps a librdkafka error code (and optional detail string) to a `KafkaError`.
    static func librdkafka(
        _ err: rd_kafka_resp_err_t, _ detail: String? = nil, code: Code? = nil,
        isFatal: Bool = false, isRetriable: Bool? = nil
    ) -> KafkaError {
        let name = String(cString: rd_kafka_err2name(err))
        let text = detail ?? String(cString: rd_kafka_err2str(err))
        if let diagnosis = kraftDiagnosis(for: text) {
            return KafkaError(
                code: .brokerIncompatible, message: diagnosis, librdkafkaCode: err.rawValue,
                librdkafkaName: name, isFatal: true, isRetriable: false)
        }
        let mapped: Code
        switch err {
        case RD_KAFKA_RESP_ERR__FATAL: mapped = .fatal
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__RESOLVE:
            mapped = .brokerUnreachable
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
            mapped = .timedOut
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
            RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            mapped = .unknownTopic
        case RD_KAFKA_RESP_ERR__INVALID_ARG: mapped = .invalidArgument
        default: mapped = .librdkafka
        }
        let retriable = isRetriable ?? KafkaError.isRetriableByDefault(err)
        return KafkaError(
            code: code ?? mapped, message: text, librdkafkaCode: err.rawValue, librdkafkaName: name,
            isFatal: isFatal || err == RD_KAFKA_RESP_ERR__FATAL, isRetriable: retriable)
    }

    /// Maps a raw librdkafka error code (`rd_kafka_resp_err_t` value) and detail.
    static func librdkafka(rawCode: Int32, _ detail: String) -> KafkaError {
        .librdkafka(rd_kafka_resp_err_t(rawValue: rawCode), detail)
    }

    /// Maps an `rd_kafka_error_t` (and destroys it).
    static func consuming(_ error: OpaquePointer) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let mapped = KafkaError.librdkafka(
            rd_kafka_error_code(error), String(cString: rd_kafka_error_string(error)),
            isFatal: rd_kafka_error_is_fatal(error) != 0, isRetriable: rd_kafka_error_is_retriable(error) != 0)
        guard rd_kafka_error_txn_requires_abort(error) != 0 else { return mapped }
        return KafkaError(
            code: mapped.code, message: mapped.message, librdkafkaCode: mapped.librdkafkaCode,
            librdkafkaName: mapped.librdkafkaName, isFatal: mapped.isFatal, isRetriable: mapped.isRetriable,
            requiresAbort: true)
    }

    private static func isRetriableByDefault(_ err: rd_kafka_resp_err_t) -> Bool {
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR__WAIT_COORD:
            return true
        default:
            return false
        }
    }
}
