import Foundation
import Kafka
import Synchronization
import Testing

@Suite("Producer and consumer against the development cluster", .serialized, .timeLimit(.minutes(2)))
struct ProducerConsumerTests {
    @Test("Round trip keeps keys, values, headers and timestamps; delivery reports carry the opaque; headers can be declined")
    func roundTrip() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("roundtrip")
            try cluster.createTopic(topic, partitions: 2)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            let timestamp: Int64 = 1_700_000_000_123
            try producer.produce(
                topic: topic, partition: 1, key: Array("key-1".utf8), value: Array("{\"id\":1}".utf8),
                headers: [KafkaHeader(name: "source.topic", string: "impressions"), KafkaHeader(name: "empty", value: nil)],
                timestampMs: timestamp, opaque: 41)
            try producer.produce(topic: topic, partition: 0, key: nil, value: nil, opaque: 42)
            #expect(producer.outstandingCount == 2)
            try producer.flush(timeoutMs: 10_000)
            var reports = producer.pollDeliveries(max: 10, timeoutMs: 1000)
            if reports.count < 2 { reports += producer.pollDeliveries(max: 10, timeoutMs: 1000) }
            #expect(reports.count == 2)
            #expect(producer.outstandingCount == 0)
            let byOpaque = Dictionary(uniqueKeysWithValues: reports.map { ($0.opaque, $0) })
            #expect(byOpaque[41]?.error == nil)
            #expect(byOpaque[41]?.partition == 1)
            #expect(byOpaque[41]?.offset == 0)
            #expect(byOpaque[42]?.partition == 0)

            let consumer = try KafkaConsumer(config: testConsumerConfig(cluster, group: uniqueName("g")))
            try consumer.subscribe(topics: [topic])
            var messages: [KafkaMessage] = []
            let deadline = Date().addingTimeInterval(15)
            while messages.count < 2, Date() < deadline {
                messages += try consumer.poll(maxMessages: 10, timeoutMs: 100)
            }
            try #require(messages.count == 2)
            let withKey = try #require(messages.first { $0.partition == 1 })
            #expect(withKey.topic == topic)
            #expect(withKey.key.map { Array($0) } == Array("key-1".utf8))
            #expect(withKey.value.map { Array($0) } == Array("{\"id\":1}".utf8))
            #expect(withKey.timestampMs == timestamp)
            #expect(withKey.offset == 0)
            #expect(withKey.headers == [KafkaHeader(name: "source.topic", string: "impressions"), KafkaHeader(name: "empty", value: nil)])
            #expect(withKey.header("source.topic").map { Array($0) } == Array("impressions".utf8))
            let tombstone = try #require(messages.first { $0.partition == 0 })
            #expect(tombstone.key == nil)
            #expect(tombstone.value == nil)
            #expect(tombstone.headerCount == 0)
            try consumer.close()

            // A consumer that declines headers gets the same message without them.
            let headerless = try KafkaConsumer(config: testConsumerConfig(cluster, group: uniqueName("g")), readsHeaders: false)
            try headerless.assign([TopicPartitionOffset(topic: topic, partition: 1, offset: TopicPartitionOffset.beginning)])
            var plain: [KafkaMessage] = []
            while plain.isEmpty, Date() < deadline.addingTimeInterval(10) {
                plain += try headerless.poll(maxMessages: 10, timeoutMs: 100)
            }
            let bare = try #require(plain.first)
            #expect(bare.value.map { Array($0) } == Array("{\"id\":1}".utf8))
            #expect(bare.key.map { Array($0) } == Array("key-1".utf8))
            #expect(bare.timestampMs == timestamp)
            #expect(bare.headerCount == 0 && bare.headers.isEmpty && bare.header("source.topic") == nil)
            try headerless.close()
        }
    }

    @Test("Pause stops delivery, resume continues, seek replays; assign reads without a group")
    func pauseResumeSeek() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("flow")
            try cluster.createTopic(topic, partitions: 1)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            _ = try produceNumbered(producer, topic: topic, range: 0..<10, partition: 0)

            let consumer = try KafkaConsumer(config: KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers))
            let partition = TopicPartition(topic: topic, partition: 0)
            try consumer.assign([TopicPartitionOffset(topic: topic, partition: 0, offset: TopicPartitionOffset.beginning)])
            #expect(try consume(consumer, count: 10).map(\.value) == (0..<10).map { "v\($0)" })

            try consumer.pause([partition])
            _ = try produceNumbered(producer, topic: topic, range: 10..<15, partition: 0)
            #expect(try consume(consumer, count: 5, timeoutMs: 500).isEmpty)
            try consumer.resume([partition])
            #expect(try consume(consumer, count: 5).map(\.value) == (10..<15).map { "v\($0)" })

            try consumer.seek([TopicPartitionOffset(topic: topic, partition: 0, offset: 3)], timeoutMs: 5000)
            let replay = try consume(consumer, count: 12)
            #expect(replay.map(\.offset) == (3..<15).map { Int64($0) })
        }
    }

    /// librdkafka before 2.1 advanced a partition's application offset for every message its batch
    /// call (`rd_kafka_consume_batch_queue`) collected, then dropped the collected messages when a
    /// version barrier (a pause, resume or seek made meanwhile on another thread) followed them in
    /// the same call: the fetch after the resume started past messages the application never got
    /// (fixed in librdkafka 2.1, #4208). librdkafka itself pauses and resumes every assigned
    /// partition on its own thread at each cooperative rebalance, so a member that kept a
    /// partition through a rebalance skipped events. Here another thread pauses and resumes while
    /// this one polls a backlog.
    @Test("Pausing and resuming on another thread while polling a backlog never skips an offset")
    func pauseResumeDuringPollsSkipsNothing() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("skip")
            let partitions = 4
            let perPartition = 20_000
            try cluster.createTopic(topic, partitions: partitions)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            for partition in 0..<partitions {
                _ = try produceNumbered(producer, topic: topic, range: 0..<perPartition, partition: partition)
            }
            let consumer = try KafkaConsumer(config: KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers))
            let assigned = try consumer.assignAll(topics: [topic], offset: TopicPartitionOffset.beginning)
            let polling = Atomic<Bool>(true)
            let toggler = Thread {
                while polling.load(ordering: .relaxed) {
                    // Long enough for the local queue to refill between pauses.
                    Thread.sleep(forTimeInterval: 0.01)
                    try? consumer.pause(assigned)
                    try? consumer.resume(assigned)
                }
            }
            toggler.start()
            var next = [Int: Int64]()
            var skipped = 0
            var received = 0
            var batch = KafkaMessageBatch()
            let deadline = Date().addingTimeInterval(60)
            while received < partitions * perPartition, Date() < deadline {
                try consumer.poll(into: &batch, maxMessages: 5_000, timeoutMs: 20)
                for message in batch {
                    let expected = next[message.partition] ?? 0
                    if message.offset > expected { skipped += Int(message.offset - expected) }
                    if message.offset >= expected {
                        received += Int(message.offset - expected) + 1
                        next[message.partition] = message.offset + 1
                    }
                }
            }
            polling.store(false, ordering: .relaxed)
            #expect(skipped == 0, "offsets never delivered: \(skipped) of \(partitions * perPartition)")
            #expect(received == partitions * perPartition)
        }
    }

    @Test("A fixed batch window waits for the batch to fill; the default returns what is there")
    func batchWindow() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("window")
            try cluster.createTopic(topic, partitions: 1)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            _ = try produceNumbered(producer, topic: topic, range: 0..<5, partition: 0)
            let consumer = try KafkaConsumer(config: KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers))
            try consumer.assign([TopicPartitionOffset(topic: topic, partition: 0, offset: TopicPartitionOffset.beginning)])
            #expect(try consume(consumer, count: 5).count == 5)

            _ = try produceNumbered(producer, topic: topic, range: 5..<8, partition: 0)
            // Only 3 messages exist: a full-batch poll for 100 waits its whole window and returns them.
            let started = Date()
            let window = try consumer.poll(maxMessages: 100, timeoutMs: 700, waitForFullBatch: true)
            #expect(Date().timeIntervalSince(started) >= 0.6)
            var total = window.count
            while total < 3, let more = try? consumer.poll(maxMessages: 100, timeoutMs: 200), !more.isEmpty { total += more.count }
            #expect(total == 3)

            // The default returns as soon as something arrived, long before its timeout.
            _ = try produceNumbered(producer, topic: topic, range: 8..<9, partition: 0)
            let quickStart = Date()
            let quick = try consumer.poll(maxMessages: 100, timeoutMs: 10_000)
            #expect(quick.count == 1)
            #expect(Date().timeIntervalSince(quickStart) < 5)
            #expect(window.nextOffsets.allSatisfy { $0.offset <= 8 })

            // assignAll reads every partition of a topic without a group.
            let all = try KafkaConsumer(config: KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers))
            #expect(try all.assignAll(topics: [topic], offset: TopicPartitionOffset.beginning) == [TopicPartition(topic: topic, partition: 0)])
            #expect(try consume(all, count: 9).map(\.offset) == (0..<9).map { Int64($0) })
        }
    }

    @Test("A consumer that empties its local queue at once is not left waiting for librdkafka to fetch again")
    func queueLimitDoesNotStallFetching() async throws {
        try await KafkaThread.run {
            // Every fetch brings more than queued.min.messages, so librdkafka stops fetching after
            // each one; before 2.2 it would look again only when its broker thread next woke (up to
            // a second later), 40 times over. The consumer wakes it as soon as the queue has drained.
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("refetch")
            try cluster.createTopic(topic, partitions: 4)
            var producerConfig = testProducerConfig(cluster)
            producerConfig.properties["batch.num.messages"] = "100"  // many small message sets
            let producer = try KafkaProducer(config: producerConfig)
            let count = 16_000
            _ = try produceNumbered(producer, topic: topic, range: 0..<count)

            var config = KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers)
            config.consumerProperties["queued.min.messages"] = "100"
            let consumer = try KafkaConsumer(config: config)
            try consumer.assignAll(topics: [topic], offset: TopicPartitionOffset.beginning)
            let started = Date()
            let received = try consume(consumer, count: count, timeoutMs: 15_000)
            let seconds = Date().timeIntervalSince(started)
            #expect(received.count == count, "\(received.count) of \(count) messages in \(seconds) s")
            #expect(Set(received.map(\.value)).count == count)
        }
    }

    @Test("Messages kept from a batch stay intact when the batch is refilled by the next poll")
    func batchReuseKeepsEarlierMessages() async throws {
        try await KafkaThread.run {
            let cluster = try DevelopmentCluster(brokers: 1)
            let topic = uniqueName("reuse")
            try cluster.createTopic(topic, partitions: 1)
            let producer = try KafkaProducer(config: testProducerConfig(cluster))
            _ = try produceNumbered(producer, topic: topic, range: 0..<1, partition: 0)
            let consumer = try KafkaConsumer(config: KafkaConfig.developmentCluster(bootstrapServers: cluster.bootstrapServers))
            try consumer.assign([TopicPartitionOffset(topic: topic, partition: 0, offset: TopicPartitionOffset.beginning)])
            var batch = KafkaMessageBatch()
            let deadline = Date().addingTimeInterval(15)
            while batch.isEmpty, Date() < deadline { try consumer.poll(into: &batch, maxMessages: 10, timeoutMs: 100) }
            let kept = try #require(batch.first)
            let keptBatch = batch

            _ = try produceNumbered(producer, topic: topic, range: 1..<2, partition: 0)
            repeat { try consumer.poll(into: &batch, maxMessages: 10, timeoutMs: 100) } while batch.isEmpty && Date() < deadline
            #expect(batch.first.map { String(decoding: $0.value ?? [], as: UTF8.self) } == "v1")
            #expect(kept.value.map { String(decoding: $0, as: UTF8.self) } == "v0")
            #expect(kept.key.map { String(decoding: $0, as: UTF8.self) } == "k0")
            #expect(keptBatch.count == 1 && keptBatch[0].offset == 0)
        }
    }
}
