import Dispatch
import Kafka

/// The gathering stage: polls the consumer into micro-batches, reusing message buffers.
///
/// An event never waits longer than `maxWait` for company: while idle it waits for the first event
/// (and takes whatever arrived with it); only then does it wait, at most `maxWait`, for the batch
/// to fill. With `maxWait` 0 a batch is exactly what the consumer had fetched: no added latency,
/// while under load batches still fill up from librdkafka's prefetched queue.
///
/// Confined to the pipeline's thread. The consumer calls the rebalance handler inside `poll`, so a
/// revocation can arrive mid-gathering: ``takeGathered()`` hands over what was gathered so far.
final class MicroBatchGatherer {
    private let consumer: KafkaConsumer
    private let maxBatch: Int
    private let maxWaitNanoseconds: UInt64
    private let idlePollMs: Int
    private let control: PipelineControl
    /// What the current gathering has polled so far.
    private var gathered = MicroBatch()
    /// Emptied message buffers, polled into again (they keep their capacity).
    private var spare: [KafkaMessageBatch] = []

    init(consumer: KafkaConsumer, configuration: ScoringConfiguration, control: PipelineControl) {
        self.consumer = consumer
        self.maxBatch = configuration.maxBatch
        self.maxWaitNanoseconds = UInt64(configuration.maxWaitMicros) * 1_000
        self.idlePollMs = configuration.idlePollMs
        self.control = control
    }

    /// Polls until `maxBatch` events are gathered or `maxWait` has passed since the first one.
    ///
    /// - Parameters:
    ///   - holdingBack: another batch awaits producing (the worker's): return what has arrived
    ///     without waiting for more, and do not block while idle.
    ///   - idleLimitMs: wait at most this long for a first event (a commit falls due then).
    /// - Returns: the micro-batch, empty when nothing arrived (idle: the loop commits and checks
    ///   its phase).
    func gather(holdingBack: Bool, idleLimitMs: Int? = nil) throws(KafkaError) -> MicroBatch {
        var deadline: UInt64?
        while gathered.count < maxBatch && !control.isStopRequested {
            var batch = spare.popLast() ?? KafkaMessageBatch()
            let wanted = maxBatch - gathered.count
            if let deadline {
                let now = DispatchTime.now().uptimeNanoseconds
                if now >= deadline || holdingBack {
                    spare.append(batch)
                    break
                }
                let timeoutMs = Int((deadline - now) / 1_000_000)  // rounded down: never past maxWait
                try consumer.poll(into: &batch, maxMessages: wanted, timeoutMs: timeoutMs)
                if batch.isEmpty {
                    spare.append(batch)
                    if timeoutMs == 0 { break }
                    continue
                }
            } else {
                try consumer.poll(into: &batch, maxMessages: wanted, timeoutMs: 0)
                if batch.isEmpty && !holdingBack {
                    // Waits for the first event only, then takes the rest of what arrived with it.
                    try consumer.poll(into: &batch, maxMessages: wanted, timeoutMs: min(idlePollMs, idleLimitMs ?? idlePollMs))
                }
                if batch.isEmpty {
                    spare.append(batch)
                    break
                }
                deadline = DispatchTime.now().uptimeNanoseconds + maxWaitNanoseconds
            }
            gathered.append(batch)
        }
        return takeGathered()
    }

    /// Serves the consumer (rebalances, errors) for up to `timeoutMs` without taking messages:
    /// what it returns anyway (a partition assigned while paused) is kept for the next batch.
    func serve(timeoutMs: Int) throws(KafkaError) {
        var batch = spare.popLast() ?? KafkaMessageBatch()
        try consumer.poll(into: &batch, maxMessages: maxBatch, timeoutMs: timeoutMs)
        if batch.isEmpty { spare.append(batch) } else { gathered.append(batch) }
    }

    /// What has been gathered and not yet handed out (emptied).
    func takeGathered() -> MicroBatch {
        defer { gathered = MicroBatch() }
        return gathered
    }

    /// Returns the buffers of a produced batch for reuse.
    func recycle(_ batch: inout MicroBatch) {
        // Popped, so each buffer is uniquely referenced and keeps its capacity.
        while var buffer = batch.batches.popLast() {
            buffer.removeAll()
            spare.append(buffer)
        }
        batch.count = 0
    }
}
