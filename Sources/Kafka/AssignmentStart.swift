import CRdKafka

/// Where a partition newly assigned to a group member starts reading.
///
/// A consumer that keeps derived state in memory (a join, sliding windows) rebuilds it after a
/// restart or a rebalance by reading the recent past again instead of resuming at the group's
/// committed offset: `.time` does that.
public enum AssignmentStart: Sendable, Hashable {
    /// The group's committed offset, or `auto.offset.reset` without one (Kafka's default).
    case committed
    /// The first message whose timestamp is at or after `ms` (milliseconds since 1970), found with
    /// a ListOffsets-by-time request (`rd_kafka_offsets_for_times`); the partition's end when every
    /// stored message is older.
    ///
    /// A broker that cannot look offsets up by time (librdkafka's mock cluster answers "none" to
    /// every time) is recognised by asking for time 0 as well, which a broker that can look up
    /// answers with the log start of a non-empty partition: such a partition then starts at its
    /// log start, so the consumer reads more than it asked for, never less.
    case time(ms: Int64)
}

/// Where the partitions of one assignment started, as ``AssignmentStart`` placed them.
public struct AssignmentStartReport: Sendable, Hashable {
    /// Partitions placed by time, at the offset found (`TopicPartitionOffset.end` when every
    /// stored message is older than the time).
    public var byTime: [TopicPartitionOffset] = []
    /// Partitions placed at their log start because the broker could not look offsets up by time.
    public var atLogStart: [TopicPartition] = []
    /// Partitions whose lookup failed: they start at the committed offset.
    public var failed: [TopicPartition] = []
}

extension ConsumerContext {
    /// Sets the start offset of each partition in `list` that `assignmentStart` places by time,
    /// before the list is assigned. Blocks on ListOffsets requests (up to `timeoutMs` each).
    func placeByTime(_ handle: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, timeoutMs: Int32 = 10_000)
        -> AssignmentStartReport?
    {
        guard let assignmentStart, let elements = list.pointee.elems else { return nil }
        var report = AssignmentStartReport()
        var wanted: [(topic: String, partition: Int, offset: Int64)] = []
        var slot: [TopicPartition: Int] = [:]
        for index in 0..<Int(list.pointee.cnt) {
            let partition = TopicPartition(topic: String(cString: elements[index].topic), partition: Int(elements[index].partition))
            guard case .time(let ms) = assignmentStart(partition) else { continue }
            wanted.append((partition.topic, partition.partition, max(ms, 0)))
            slot[partition] = index
        }
        guard !wanted.isEmpty else { return nil }
        // Asks for the offsets at `items`' times; nil (and every partition counted as failed) when
        // the request as a whole fails.
        func lookUp(_ items: [(topic: String, partition: Int, offset: Int64)]) -> [TopicPartition: Int64]? {
            let query = makePartitionList(items)
            defer { rd_kafka_topic_partition_list_destroy(query) }
            let err = rd_kafka_offsets_for_times(handle, query, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                self.report(KafkaError.librdkafka(err, "offsets for times: \(String(cString: rd_kafka_err2str(err)))"))
                return nil
            }
            var found: [TopicPartition: Int64] = [:]
            for (answer, answerError) in readPartitionList(query) {
                if answerError == RD_KAFKA_RESP_ERR_NO_ERROR {
                    found[answer.topicPartition] = answer.offset
                } else {
                    self.report(KafkaError.librdkafka(answerError, "offset for time of \(answer.topicPartition): \(String(cString: rd_kafka_err2str(answerError)))"))
                }
            }
            return found
        }
        let found = lookUp(wanted) ?? [:]
        var none: [(topic: String, partition: Int, offset: Int64)] = []
        for item in wanted {
            let partition = TopicPartition(topic: item.topic, partition: item.partition)
            guard let offset = found[partition] else {
                report.failed.append(partition)
                continue
            }
            if offset >= 0 {
                elements[slot[partition]!].offset = offset
                report.byTime.append(TopicPartitionOffset(topic: item.topic, partition: item.partition, offset: offset))
            } else {
                none.append((item.topic, item.partition, 0))
            }
        }
        if !none.isEmpty {
            // "No message at or after the time": the truth, or a broker that cannot look up.
            let probe = lookUp(none) ?? [:]
            for item in none {
                let partition = TopicPartition(topic: item.topic, partition: item.partition)
                if let start = probe[partition], start >= 0 {
                    elements[slot[partition]!].offset = TopicPartitionOffset.end
                    report.byTime.append(TopicPartitionOffset(topic: item.topic, partition: item.partition, offset: TopicPartitionOffset.end))
                } else {
                    elements[slot[partition]!].offset = TopicPartitionOffset.beginning
                    report.atLogStart.append(partition)
                }
            }
        }
        return report
    }
}
