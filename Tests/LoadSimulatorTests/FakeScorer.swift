import Foundation
import Kafka
import Testing

/// Stands in for the scorer in tests: answers every impression with a prediction on `predictions`,
/// except the ids it was told to drop (no answer), duplicate (two predictions) or dead-letter (the
/// original bytes on `impressions.dlq`).
///
/// With a `transactionalID` it writes each polled batch's answers in one Kafka transaction, as
/// `scorer run --guarantee exactly-once` does; the ids in `abortedFirst` are answered first in a
/// transaction that is aborted (its records are in the log, marked aborted), then again in the
/// committed one. The aborted answers come from a second transactional producer: on noida-db
/// 0.2.3 a read_committed consumer that is past an aborted transaction skips every later record
/// of the same producer id on that partition (BENCHMARKS.md, "noida-db quirks").
final class FakeScorer: @unchecked Sendable {
    // Sendable: the consumer and producer are used only on the scorer's own thread; `stopFlag` and
    // `answered` are guarded by `lock`.
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let drop: Set<String>
    private let duplicate: Set<String>
    private let deadLetter: Set<String>
    private let abortedFirst: Set<String>
    private let transactional: Bool
    /// Writes the answers that are aborted (with `abortedFirst` only).
    private let abortingProducer: KafkaProducer?
    /// Events per second the scorer can handle at most (nil: as fast as it can).
    private let capacity: Double?
    private let lock = NSLock()
    private let assigned = Flag()
    private var stopFlag = false
    private var finished = false
    private(set) var answered = 0

    /// - Parameter config: client settings for the test broker (`TestBroker.config`).
    /// - Parameter transactionalID: write answers in transactions (needs a broker with them).
    /// - Parameter abortedFirst: ids answered in an aborted transaction before the committed one
    ///   (with `transactionalID` only).
    init(config kafka: KafkaConfig, drop: Set<String> = [], duplicate: Set<String> = [], deadLetter: Set<String> = [],
         capacity: Double? = nil, transactionalID: String? = nil, abortedFirst: Set<String> = []) throws {
        precondition(abortedFirst.isEmpty || transactionalID != nil, "abortedFirst needs transactions")
        var config = kafka
        config.groupID = "fake-scorer"
        config.autoOffsetReset = .earliest
        let assigned = self.assigned
        consumer = try KafkaConsumer(
            config: config,
            rebalanceHandler: { event in
                if event.kind == .assigned { assigned.set() }
            })
        try consumer.subscribe(topics: ["impressions"])
        var producerConfig = kafka
        producerConfig.lingerMs = 1
        if let transactionalID { producerConfig.properties["transactional.id"] = transactionalID }
        producer = try KafkaProducer(config: producerConfig)
        if transactionalID != nil { try producer.initTransactions(timeoutMs: 30_000) }
        if let transactionalID, !abortedFirst.isEmpty {
            producerConfig.properties["transactional.id"] = transactionalID + "-aborted"
            let aborting = try KafkaProducer(config: producerConfig)
            try aborting.initTransactions(timeoutMs: 30_000)
            abortingProducer = aborting
        } else {
            abortingProducer = nil
        }
        transactional = transactionalID != nil
        self.abortedFirst = abortedFirst
        self.drop = drop
        self.duplicate = duplicate
        self.deadLetter = deadLetter
        self.capacity = capacity
    }

    /// Starts answering; returns once the scorer's consumer has its partitions (at most 30 s).
    func start() {
        Thread { [self] in run() }.start()
        let deadline = Date().addingTimeInterval(30)
        while !assigned.isSet, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    func stop() {
        lock.withLock { stopFlag = true }
        while !lock.withLock({ finished }) { Thread.sleep(forTimeInterval: 0.01) }
    }

    private func run() {
        var batch = KafkaMessageBatch()
        var nextSlot = Date()
        while !lock.withLock({ stopFlag }) {
            do {
                try consumer.poll(into: &batch, maxMessages: capacity == nil ? 500 : 10, timeoutMs: 20)
                if transactional, !batch.isEmpty {
                    try answerInAnAbortedTransaction(batch)
                    try producer.beginTransaction()
                }
                for message in batch {
                    if let capacity {
                        // One event per 1/capacity s; oversleeping is made up, but idle time earns
                        // at most 50 ms of credit.
                        nextSlot = max(nextSlot, Date().addingTimeInterval(-0.05)).addingTimeInterval(1 / capacity)
                        let wait = nextSlot.timeIntervalSinceNow
                        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                    }
                    guard let key = message.key, let value = message.value else { continue }
                    let id = String(decoding: key, as: UTF8.self)
                    if drop.contains(id) { continue }
                    if deadLetter.contains(id) {
                        try producer.produce(
                            topic: "impressions.dlq", key: Array(key), value: Array(value),
                            headers: [KafkaHeader(name: "error", string: "rejected by the fake scorer")])
                        continue
                    }
                    let prediction = #"{"id":"\#(id)","p":0.5,"model":"fake","scored_at":\#(Int64(Date().timeIntervalSince1970 * 1000)),"event_ts":\#(message.timestampMs ?? 0)}"#
                    for _ in 0..<(duplicate.contains(id) ? 2 : 1) {
                        try producer.produce(topic: "predictions", key: Array(key), value: Array(prediction.utf8))
                    }
                    lock.withLock { answered += 1 }
                }
                if transactional, !batch.isEmpty {
                    try producer.flush(timeoutMs: 10_000)
                    try producer.commitTransaction(timeoutMs: 10_000)
                }
                _ = producer.pollDeliveries(max: 10_000, timeoutMs: 0)
            } catch {
                Issue.record("fake scorer: \(error)")
            }
        }
        try? producer.flush(timeoutMs: 5000)
        try? consumer.close()
        lock.withLock { finished = true }
    }

    /// Writes a prediction for every id of `batch` in `abortedFirst` and aborts that transaction
    /// once the records are in the log.
    private func answerInAnAbortedTransaction(_ batch: KafkaMessageBatch) throws {
        guard let aborting = abortingProducer else { return }
        var abortedAnswers = 0
        try aborting.beginTransaction()
        for message in batch {
            guard let key = message.key, abortedFirst.contains(String(decoding: key, as: UTF8.self)) else { continue }
            let id = String(decoding: key, as: UTF8.self)
            let prediction = #"{"id":"\#(id)","p":0.25,"model":"aborted","scored_at":\#(Int64(Date().timeIntervalSince1970 * 1000)),"event_ts":\#(message.timestampMs ?? 0)}"#
            try aborting.produce(topic: "predictions", key: Array(key), value: Array(prediction.utf8))
            abortedAnswers += 1
        }
        if abortedAnswers > 0 { try aborting.flush(timeoutMs: 10_000) }
        try aborting.abortTransaction(timeoutMs: 10_000)
        _ = aborting.pollDeliveries(max: 10_000, timeoutMs: 0)
    }
}

/// A flag one thread sets and another reads.
final class Flag: @unchecked Sendable {
    // Sendable: `value` is only touched while holding `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
