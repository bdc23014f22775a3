import Foundation
import Kafka
import Testing

/// Stands in for the scorer in tests: answers every impression with a prediction on `predictions`,
/// except the ids it was told to drop (no answer), duplicate (two predictions) or dead-letter (the
/// original bytes on `impressions.dlq`).
final class FakeScorer: @unchecked Sendable {
    // Sendable: the consumer and producer are used only on the scorer's own thread; `stopFlag` and
    // `answered` are guarded by `lock`.
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let drop: Set<String>
    private let duplicate: Set<String>
    private let deadLetter: Set<String>
    /// Events per second the scorer can handle at most (nil: as fast as it can).
    private let capacity: Double?
    private let lock = NSLock()
    private let assigned = Flag()
    private var stopFlag = false
    private var finished = false
    private(set) var answered = 0

    /// - Parameter config: client settings for the test broker (`TestBroker.config`).
    init(config kafka: KafkaConfig, drop: Set<String> = [], duplicate: Set<String> = [], deadLetter: Set<String> = [],
         capacity: Double? = nil) throws {
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
        producer = try KafkaProducer(config: producerConfig)
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
                _ = producer.pollDeliveries(max: 10_000, timeoutMs: 0)
            } catch {
                Issue.record("fake scorer: \(error)")
            }
        }
        try? producer.flush(timeoutMs: 5000)
        try? consumer.close()
        lock.withLock { finished = true }
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
