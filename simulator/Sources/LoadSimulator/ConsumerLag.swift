import Foundation
public import Kafka

/// One partition's row of a lag report.
public struct PartitionLagRow: Sendable, Hashable, Codable {
    public var partition: Int
    /// The group's committed offset (the next offset it will read); nil when it committed none.
    public var committed: Int64?
    /// First offset still stored.
    public var logStart: Int64
    /// Offset the next produced message will get.
    public var logEnd: Int64
    /// Messages produced but not yet committed: logEnd - committed (logEnd - logStart without a commit).
    public var lag: Int64
    /// Commits per second since the previous sample (nil on the first sample).
    public var consumedPerSecond: Double?
    /// Messages produced per second since the previous sample (nil on the first sample).
    public var producedPerSecond: Double?
    /// Seconds until the lag reaches zero at the current rates: 0 when there is no lag; when the lag
    /// is at most one second of consumption, the time to consume it; nil when the group is falling
    /// behind (or on the first sample).
    public var catchUpSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case partition, committed, logStart = "log_start", logEnd = "log_end", lag,
            consumedPerSecond = "consumed_per_s", producedPerSecond = "produced_per_s", catchUpSeconds = "catch_up_s"
    }
}

/// Consumer lag of one group on one topic at one moment: a row per partition and a total.
public struct LagReport: Sendable, Hashable, Codable {
    public var group: String
    public var topic: String
    /// Wall-clock time of the sample, ms since 1970.
    public var timeMs: Int64
    public var partitions: [PartitionLagRow]
    /// The sum over partitions (`partition` is -1; `committed` is nil when no partition has one).
    public var total: PartitionLagRow
    /// Whether the group has committed an offset on at least one partition.
    public var hasCommits: Bool { partitions.contains { $0.committed != nil } }

    enum CodingKeys: String, CodingKey {
        case group, topic, timeMs = "time_ms", partitions, total
    }
}

/// Turns successive watermark/committed-offset samples into lag reports with rates.
public struct LagTracker: Sendable {
    private var previous: (seconds: Double, rows: [Int: (position: Int64, logEnd: Int64)])?

    public init() {}

    /// A report for `partitions` sampled at monotonic `seconds` (and wall clock `timeMs`); rates are
    /// computed against the previous call.
    public mutating func report(
        group: String, topic: String, partitions: [KafkaAdmin.PartitionLag], seconds: Double, timeMs: Int64
    ) -> LagReport {
        var rows: [PartitionLagRow] = []
        var totalConsumed: Double?
        var totalProduced: Double?
        for partition in partitions {
            var row = PartitionLagRow(
                partition: partition.partition, committed: partition.committed, logStart: partition.lowWatermark,
                logEnd: partition.highWatermark, lag: max(partition.lag, 0))
            if let previous, let before = previous.rows[partition.partition], seconds > previous.seconds {
                let elapsed = seconds - previous.seconds
                // A partition without a commit counts as positioned at its log start, as its lag does.
                let consumed = Double(Self.position(partition) - before.position) / elapsed
                let produced = Double(partition.highWatermark - before.logEnd) / elapsed
                row.consumedPerSecond = max(consumed, 0)
                row.producedPerSecond = max(produced, 0)
                totalConsumed = (totalConsumed ?? 0) + max(consumed, 0)
                totalProduced = (totalProduced ?? 0) + max(produced, 0)
                row.catchUpSeconds = Self.catchUp(lag: row.lag, consumed: consumed, produced: produced)
            } else if row.lag == 0 {
                row.catchUpSeconds = 0
            }
            rows.append(row)
        }
        let committedRows = rows.compactMap(\.committed)
        var total = PartitionLagRow(
            partition: -1, committed: committedRows.isEmpty ? nil : committedRows.reduce(0, +),
            logStart: rows.reduce(0) { $0 + $1.logStart }, logEnd: rows.reduce(0) { $0 + $1.logEnd },
            lag: rows.reduce(0) { $0 + $1.lag }, consumedPerSecond: totalConsumed, producedPerSecond: totalProduced)
        if let totalConsumed, let totalProduced {
            total.catchUpSeconds = Self.catchUp(lag: total.lag, consumed: totalConsumed, produced: totalProduced)
        } else if total.lag == 0 {
            total.catchUpSeconds = 0
        }
        previous = (seconds, Dictionary(uniqueKeysWithValues: partitions.map { ($0.partition, (Self.position($0), $0.highWatermark)) }))
        return LagReport(group: group, topic: topic, timeMs: timeMs, partitions: rows, total: total)
    }

    private static func position(_ partition: KafkaAdmin.PartitionLag) -> Int64 {
        max(partition.committed ?? partition.lowWatermark, partition.lowWatermark)
    }

    /// Seconds to reach zero lag: lag / (consumed - produced) while the group gains on the producers.
    /// A lag of at most one second of consumption is "keeping up" (commits trail the log end by the
    /// commit interval even when nothing falls behind): then it is lag / consumed. Otherwise nil:
    /// falling behind.
    static func catchUp(lag: Int64, consumed: Double, produced: Double) -> Double? {
        if lag == 0 { return 0 }
        let net = consumed - produced
        if net > 0 { return Double(lag) / net }
        if consumed > 0, Double(lag) <= consumed { return Double(lag) / consumed }
        return nil
    }
}

/// Samples a consumer group's lag on a topic without joining the group.
///
/// - Important: `sample()` blocks on broker round trips: call it from a thread of your own.
public final class ConsumerLagMonitor: Sendable {
    public let group: String
    public let topic: String
    private let admin: KafkaAdmin
    private let tracker = Locked(LagTracker())
    private let timeoutMs: Int

    /// - Throws: `LoadSimulatorError.kafka` when the admin client cannot be created.
    public init(kafka: KafkaConfig, group: String, topic: String, timeoutMs: Int = 10_000) throws(LoadSimulatorError) {
        do {
            admin = try KafkaAdmin(config: kafka)
        } catch {
            throw .kafka("cannot connect to \(kafka.bootstrapServers): \(error)")
        }
        self.group = group
        self.topic = topic
        self.timeoutMs = timeoutMs
    }

    /// Reads watermarks and committed offsets now and returns the report (rates against the previous
    /// sample).
    ///
    /// - Throws: `LoadSimulatorError.notFound` when the topic does not exist, `.kafka` for broker errors.
    public func sample() throws(LoadSimulatorError) -> LagReport {
        let partitions: [KafkaAdmin.PartitionLag]
        do throws(KafkaError) {
            partitions = try admin.lag(group: group, topic: topic, timeoutMs: timeoutMs)
        } catch {
            if error.code == .unknownTopic {
                throw .notFound("topic \"\(topic)\" does not exist on \(admin.bootstrapServers)")
            }
            throw .kafka("cannot read the lag of group \"\(group)\" on \(topic): \(error)")
        }
        let seconds = Double(monotonicNanoseconds()) / 1e9
        let timeMs = wallClockMilliseconds()
        return tracker.withLock {
            $0.report(group: group, topic: topic, partitions: partitions, seconds: seconds, timeMs: timeMs)
        }
    }
}

/// Text renderings of lag reports for `scorer lag`.
public enum LagText {
    /// The table: a header, a row per partition and a total row.
    public static func table(_ report: LagReport) -> [String] {
        func cell(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        func format(_ row: PartitionLagRow, name: String) -> String {
            cell(name, 9) + cell(row.committed.map { number(Double($0)) } ?? "-", 14) + cell(number(Double(row.logEnd)), 14)
                + cell(number(Double(row.lag)), 12) + cell(row.consumedPerSecond.map { number($0) } ?? "-", 12)
                + cell(row.producedPerSecond.map { number($0) } ?? "-", 12)
                + cell(catchUp(row), 17)
        }
        var lines = [
            cell("partition", 9) + cell("committed", 14) + cell("log end", 14) + cell("lag", 12) + cell("consumed/s", 12)
                + cell("produced/s", 12) + cell("catch-up", 17)
        ]
        for row in report.partitions { lines.append(format(row, name: String(row.partition))) }
        lines.append(format(report.total, name: "total"))
        return lines
    }

    /// The one-line note for a group that has committed nothing, or nil.
    public static func note(_ report: LagReport) -> String? {
        guard !report.hasCommits else { return nil }
        return "group \"\(report.group)\" has no committed offsets on \(report.topic) (not started, or nothing consumed yet): lag counts every stored message"
    }

    static func catchUp(_ row: PartitionLagRow) -> String {
        if row.lag == 0 { return "caught up" }
        guard let seconds = row.catchUpSeconds else {
            return row.consumedPerSecond == nil ? "-" : "falling behind"
        }
        if let consumed = row.consumedPerSecond, let produced = row.producedPerSecond, consumed <= produced {
            return "keeping up"
        }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        if seconds < 3600 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }
}
