import Dispatch
import Kafka
import Logging

/// The transactional producer's side of exactly-once mode (`--guarantee exactly-once`).
///
/// One transaction per commit: the outputs produced since the previous commit and the input
/// positions they answer (sent with the consumer's group metadata, KIP-447) commit together, so
/// a `read_committed` reader sees each event's output once whatever crashes in between. Retriable
/// errors are retried within the timeout; an error that needs an abort is thrown for the
/// ``OffsetCommitter`` to abort and rewind; a fatal one (fenced by a newer instance with the same
/// transactional id) is thrown for the service to stop.
///
/// Confined to the pipeline's thread.
final class TransactionalCommits {
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer
    private let metrics: ScoringMetrics
    private let logger: Logger
    /// Budget of one transactional call, retries included.
    let timeoutMs: Int
    let transactionalID: String

    init(producer: KafkaProducer, consumer: KafkaConsumer, transactionalID: String, timeoutMs: Int, metrics: ScoringMetrics, logger: Logger) {
        self.producer = producer
        self.consumer = consumer
        self.transactionalID = transactionalID
        self.timeoutMs = timeoutMs
        self.metrics = metrics
        self.logger = logger
    }

    /// Registers the transactional id (ending what a predecessor with the same id left open) and
    /// begins the first transaction.
    func start() throws(KafkaError) {
        try retrying("init transactions") { () throws(KafkaError) in try producer.initTransactions(timeoutMs: timeoutMs) }
        try producer.beginTransaction()
    }

    /// Adds `offsets` to the open transaction, commits it and begins the next one.
    func commit(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        let started = DispatchTime.now().uptimeNanoseconds
        try retrying("send offsets to the transaction") { () throws(KafkaError) in
            try producer.sendOffsetsToTransaction(offsets, consumer: consumer, timeoutMs: timeoutMs)
        }
        try retrying("commit the transaction") { () throws(KafkaError) in try producer.commitTransaction(timeoutMs: timeoutMs) }
        metrics.recordTransaction(committed: true, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        try producer.beginTransaction()
    }

    /// Aborts the open transaction (its outputs stay invisible to `read_committed` readers, its
    /// offsets uncommitted) and begins the next one.
    func abort(reason: String) throws(KafkaError) {
        logger.warning("aborting the transaction: \(reason); rewinding to the committed offsets")
        try retrying("abort the transaction") { () throws(KafkaError) in try producer.abortTransaction(timeoutMs: timeoutMs) }
        metrics.recordTransaction(committed: false, seconds: nil)
        try producer.beginTransaction()
    }

    /// Runs `call`, retrying while it fails with a retriable error and the budget lasts.
    private func retrying(_ what: String, _ call: () throws(KafkaError) -> Void) throws(KafkaError) {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMs) * 1_000_000
        while true {
            do {
                try call()
                return
            } catch {
                guard error.isRetriable, !error.isFatal, !error.requiresAbort, DispatchTime.now().uptimeNanoseconds < deadline else {
                    throw error
                }
                logger.debug("\(what) failed, retrying: \(error)")
            }
        }
    }
}
