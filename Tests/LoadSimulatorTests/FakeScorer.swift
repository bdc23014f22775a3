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
    private let lock = NSLock()
    private var stopFlag = false
    private var finished = false
    private(set) var answered = 0

    init(bootstrapServers: String, drop: Set<String> = [], duplicate: Set<String> = [], deadLetter: Set<String> = []) throws {
        var config = KafkaConfig.developmentCluster(bootstrapServers: bootstrapServers)
        config.groupID = "fake-scorer"
        config.autoOffsetReset = .earliest
        consumer = try KafkaConsumer(config: config)
        try consumer.subscribe(topics: ["impressions"])
        var producerConfig = KafkaConfig.developmentCluster(bootstrapServers: bootstrapServers)
        producerConfig.lingerMs = 1
        producer = try KafkaProducer(config: producerConfig)
        self.drop = drop
        self.duplicate = duplicate
        self.deadLetter = deadLetter
    }

    func start() {
        Thread { [self] in run() }.start()
    }

    func stop() {
        lock.withLock { stopFlag = true }
        while !lock.withLock({ finished }) { Thread.sleep(forTimeInterval: 0.01) }
    }

    private func run() {
        var batch = KafkaMessageBatch()
        while !lock.withLock({ stopFlag }) {
            do {
                try consumer.poll(into: &batch, maxMessages: 500, timeoutMs: 20)
                for message in batch {
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
