public import Kafka
public import Logging

extension KafkaLogRecord {
    /// The swift-log level of this record's syslog severity.
    public var logLevel: Logger.Level {
        switch level {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }
}

/// Sends librdkafka's own log lines (broker connection failures, state changes, `-X debug=...`
/// output) through swift-log with the service's format and level, instead of raw to stderr.
/// Call once at start-up, after `LoggingSystem.bootstrap` and before creating Kafka clients.
public func routeLibrdkafkaLogs(to logger: Logger) {
    KafkaLog.setHandler { record in
        logger.log(
            level: record.logLevel, "\(record.message)",
            metadata: ["facility": "\(record.facility)", "client": "\(record.client)"], source: "librdkafka")
    }
}
