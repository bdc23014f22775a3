import CRdKafka
import Foundation

/// One log line from librdkafka (connection failures, broker state changes, debug contexts).
public struct KafkaLogRecord: Sendable {
    /// Syslog severity: 0 emergency ... 3 error, 4 warning, 5 notice, 6 info, 7 debug.
    public var level: Int
    /// librdkafka's short facility tag, e.g. `FAIL`, `BROKER`, `FETCH`.
    public var facility: String
    /// The client instance that logged it, e.g. `scorer#consumer-1`.
    public var client: String
    public var message: String
}

/// Where librdkafka's own log lines go.
///
/// By default librdkafka prints them to stderr in its own format (`%3|1700000000.123|FAIL|...`),
/// which does not honour the application's log level or format. Install a handler once at start-up,
/// before creating clients, and every client, consumer and development cluster created afterwards
/// sends its lines to it instead (typically into swift-log). The handler runs on librdkafka's
/// internal threads: it must be thread-safe and quick.
public enum KafkaLog {
    static let handler = LockedValue<(@Sendable (KafkaLogRecord) -> Void)?>(nil)

    /// Routes librdkafka log lines of clients created from now on to `handler` (nil: back to stderr).
    public static func setHandler(_ handler: (@Sendable (KafkaLogRecord) -> Void)?) {
        self.handler.withLock { $0 = handler }
    }

    /// Points a configuration's log callback at the installed handler, if any.
    static func attach(to conf: OpaquePointer) {
        guard handler.withLock({ $0 != nil }) else { return }
        rd_kafka_conf_set_log_cb(conf, kafkaLogCallback)
    }
}

extension KafkaLog {
    /// Hands a record to the installed handler, or prints it to stderr the way librdkafka does
    /// when no handler is installed (`%LEVEL|SECONDS.MS|FACILITY|CLIENT| message`).
    static func deliver(_ record: KafkaLogRecord) {
        if let handler = handler.withLock({ $0 }) {
            handler(record)
            return
        }
        let now = Date().timeIntervalSince1970
        let seconds = Int(now)
        let millis = Int((now - Double(seconds)) * 1000)
        let line = "%\(record.level)|\(seconds).\(String(repeating: "0", count: millis < 10 ? 2 : millis < 100 ? 1 : 0))\(millis)|\(record.facility)|\(record.client)| \(record.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

private let kafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    handle, level, facility, message in
    guard let handler = KafkaLog.handler.withLock({ $0 }) else { return }
    let client = handle.flatMap { rd_kafka_name($0) }.map { String(cString: $0) } ?? ""
    handler(KafkaLogRecord(
        level: Int(level), facility: facility.map { String(cString: $0) } ?? "",
        client: client, message: message.map { String(cString: $0) } ?? ""))
}
