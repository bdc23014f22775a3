import Foundation
import Kafka
import Logging

/// Drains the producer's delivery reports on a thread of its own and acknowledges them in the
/// ``OffsetTracker``, recording output counts and end-to-end latency.
///
/// Runs until the consuming thread has finished and nothing is in flight, or the drain deadline
/// passes. A failed delivery (after the idempotent producer's own retries) marks the partition's
/// ledger as failed and stops the service: the event's offset is never committed, so a restart
/// re-scores it.
struct DeliveryLoop {
    let producer: KafkaProducer
    let tracker: OffsetTracker
    let metrics: ScoringMetrics
    let control: PipelineControl
    let logger: Logger

    func run() {
        var latencies: [UInt64] = []
        latencies.reserveCapacity(10_000)
        var delivered: [UInt64] = []
        delivered.reserveCapacity(10_000)
        while true {
            var nowMs: Int64 = 0  // when the first report of this poll arrived
            var predictions = 0
            var deadLetterCount = 0
            latencies.removeAll(keepingCapacity: true)
            delivered.removeAll(keepingCapacity: true)
            let served = producer.pollDeliveries(max: 10_000, timeoutMs: 20) { report in
                if nowMs == 0 { nowMs = Int64(Date().timeIntervalSince1970 * 1000) }
                guard !report.isDelivered, let error = report.error else {
                    delivered.append(report.opaque)
                    return
                }
                if let refused = report.refusedMessage {
                    // Too large for the broker: the producing thread publishes a cut-down dead
                    // letter under the same token instead (the entry stays in flight until then).
                    control.refusedOutputs.withLock {
                        $0.append(RefusedOutput(token: report.opaque, topic: report.topic, message: refused, reason: error.description))
                    }
                    return
                }
                // nil: the output of a partition no longer tracked (revoked, or rewound after an
                // exactly-once abort purged it): its events are scored again from the committed offset.
                guard tracker.fail(report.opaque, reason: error.description) else { return }
                if !control.deliveryFailed.load(ordering: .relaxed) {
                    logger.error("output delivery failed; stopping without committing past it: \(error)")
                }
                control.deliveryFailed.store(true, ordering: .relaxed)
            }
            if served == 0 {
                if control.consumingFinished.load(ordering: .acquiring) {
                    if producer.outstandingCount == 0 || control.drainTimeRemaining <= 0 { return }
                }
                continue
            }
            tracker.acknowledgeDelivered(delivered) { kind, eventTimestampMs in
                switch kind {
                case .prediction:
                    predictions += 1
                    latencies.append(UInt64(max(0, nowMs - eventTimestampMs)) * 1_000)
                case .deadLetter:
                    deadLetterCount += 1
                }
            }
            metrics.recordAcknowledged(predictions: predictions, deadLetters: deadLetterCount, latenciesMicros: latencies)
        }
    }
}

/// Reads per-partition consumer lag out of librdkafka's statistics JSON.
///
/// librdkafka reports `topics.<topic>.partitions.<n>.consumer_lag` for the partitions it fetches
/// (-1 where unknown, and for the internal partition "-1"), which is what the gauge shows.
enum ConsumerStatistics {
    static func lag(fromStatistics json: String) -> [TopicPartition: Int64] {
        guard let data = json.data(using: .utf8),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let topics = root["topics"] as? [String: Any] else { return [:] }
        var lag: [TopicPartition: Int64] = [:]
        for (topic, value) in topics {
            guard let partitions = (value as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (key, entry) in partitions {
                guard let partition = Int(key), partition >= 0,
                      let fields = entry as? [String: Any],
                      let value = (fields["consumer_lag"] as? NSNumber)?.int64Value, value >= 0 else { continue }
                lag[TopicPartition(topic: topic, partition: partition)] = value
            }
        }
        return lag
    }
}
