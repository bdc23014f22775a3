import Kafka

/// The events of one micro-batch: the consumer batches one gathering polled, in order.
struct MicroBatch {
    var batches: [KafkaMessageBatch] = []
    var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ batch: KafkaMessageBatch) {
        count += batch.count
        batches.append(batch)
    }
}

/// A micro-batch after the scoring stage: its events, and the runtime holding their rows, dead
/// letter reasons and encoded predictions (valid until the runtime scores another batch).
struct ScoredBatch {
    var batch: MicroBatch
    var runtime: BatchRuntime
    /// Time spent featurizing and scoring the batch.
    var scoringNanoseconds: Int64 = 0
}
