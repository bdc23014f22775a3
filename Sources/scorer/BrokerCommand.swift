import ArgumentParser
import Foundation
import Kafka
import KafkaOptions

/// `scorer broker`: a development Kafka cluster in the foreground.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a development Kafka cluster (librdkafka's mock brokers) in the foreground.",
        usage: "scorer broker [--brokers <N>] [--partitions <P>] [--topic <name> ...] [--bootstrap-file <FILE>]",
        discussion: """
            Starts N Kafka-protocol brokers on 127.0.0.1 (ephemeral ports) inside this process, \
            creates the product's topics (impressions, predictions, impressions.dlq) plus any \
            --topic, prints the bootstrap address and, with --bootstrap-file, writes it to FILE so \
            other commands can use '--brokers @FILE' from another terminal. Runs until Ctrl-C or \
            SIGTERM, then stops the brokers and removes FILE.

            This is for development and tests, not production: the mock brokers keep about 5 MB \
            per partition (older messages are dropped) and nothing on disk. Clients reading from \
            them should use the development-cluster tuning, which '--brokers @FILE' selects \
            automatically ('--broker-profile development-cluster' otherwise).

            Examples:
              scorer broker --bootstrap-file /tmp/scorer.brokers
              scorer run --brokers @/tmp/scorer.brokers --model models/install-v1
              scorer broker --brokers 3 --partitions 8 --topic clicks
            """,
        subcommands: [BrokerBenchCommand.self]
    )

    /// The topics every product command expects.
    static let productTopics = ["impressions", "predictions", "impressions.dlq"]

    @Option(name: .customLong("brokers"), help: ArgumentHelp("Number of brokers to start (1-32).", valueName: "N"))
    var brokerCount: Int = 1

    @Option(help: ArgumentHelp("Partitions of each topic created.", valueName: "P"))
    var partitions: Int = 4

    @Option(name: .customLong("topic"), help: ArgumentHelp("Extra topic to create (repeatable), besides impressions, predictions and impressions.dlq.", valueName: "name"))
    var extraTopics: [String] = []

    @Option(help: ArgumentHelp("Write the bootstrap address to this file (removed again on exit).", valueName: "FILE"))
    var bootstrapFile: String?

    func validate() throws {
        guard (1...32).contains(brokerCount) else { throw ValidationError("--brokers must be 1...32, got \(brokerCount).") }
        guard (1...1000).contains(partitions) else { throw ValidationError("--partitions must be 1...1000, got \(partitions).") }
        if let bootstrapFile, bootstrapFile.isEmpty { throw ValidationError("--bootstrap-file needs a path.") }
        if let bad = extraTopics.first(where: { !Self.isValidTopicName($0) }) {
            throw ValidationError("--topic '\(bad)' is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -).")
        }
    }

    static func isValidTopicName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 249 && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    func run() async throws {
        // Signals are taken before the brokers start so a Ctrl-C never skips the cleanup.
        let stop = SignalWaiter(signals: [SIGINT, SIGTERM])
        let cluster = try DevelopmentCluster(brokers: brokerCount)
        var topics = Self.productTopics
        for topic in extraTopics where !topics.contains(topic) { topics.append(topic) }
        for topic in topics {
            try cluster.createTopic(topic, partitions: partitions, replicationFactor: min(3, brokerCount))
        }
        if let bootstrapFile {
            do {
                try KafkaConnectionOptions.bootstrapFileContents(bootstrapServers: cluster.bootstrapServers, developmentCluster: true)
                    .write(toFile: bootstrapFile, atomically: true, encoding: .utf8)
            } catch {
                cluster.stop()
                throw ValidationError("Cannot write --bootstrap-file '\(bootstrapFile)': \(error.localizedDescription)")
            }
        }
        print(cluster.bootstrapServers)
        let fileHint = bootstrapFile.map { "--brokers @\($0)" } ?? "--brokers \(cluster.bootstrapServers)"
        printError(
            "scorer broker: \(brokerCount) broker(s) at \(cluster.bootstrapServers); topics \(topics.joined(separator: ", ")) "
                + "with \(partitions) partition\(partitions == 1 ? "" : "s") each. Use \(fileHint) (or SCORER_BROKERS=\(cluster.bootstrapServers)). Ctrl-C stops.")
        let signal = await stop.wait()
        cluster.stop()
        if let bootstrapFile { try? FileManager.default.removeItem(atPath: bootstrapFile) }
        printError("scorer broker: stopped (signal \(signal)).")
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Waits for the first of some signals, which stop terminating the process once this exists.
final class SignalWaiter {
    private let sources: [any DispatchSourceSignal]
    private let received = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(1))

    init(signals: [Int32]) {
        let continuation = received.continuation
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    /// Suspends until one of the signals arrives; returns its number.
    func wait() async -> Int32 {
        for await number in received.stream { return number }
        return 0
    }

    deinit {
        for source in sources { source.cancel() }
    }
}

// MARK: - Benchmark driver (hidden)

/// `scorer broker bench`: the Swift side of `benchmarks/kafka_throughput.sh`, which runs it
/// interleaved with kcat (same librdkafka) and reports ratios. Hidden: a developer tool.
struct BrokerBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Throughput of the Kafka wrapper: produce, consume or pass-through N messages (for benchmarks/kafka_throughput.sh).",
        discussion: """
            produce:      produce --count messages of --size bytes to --bench-topic, wait for every delivery report.
            consume:      read --count messages from the beginning of every partition of --bench-topic (no group).
            passthrough:  read --count messages from --bench-topic and produce each to --to; wait for deliveries
                          (one thread consumes and hands batches to another that produces, like kcat -C | kcat -P).
            Prints one line: '<mode> <count> messages in <seconds> s'.
            """,
        shouldDisplay: false
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case produce, consume, passthrough
    }

    @Argument(help: "produce, consume or passthrough.")
    var mode: Mode

    // Not `KafkaConnectionOptions`: its `--brokers` would clash with `scorer broker --brokers N`.
    @Option(help: ArgumentHelp("Bootstrap servers, or @FILE written by 'scorer broker --bootstrap-file'.", valueName: "ADDRESS|@FILE"))
    var bootstrap: String

    @Option(name: .customShort("X"), help: ArgumentHelp("librdkafka property (repeatable).", valueName: "key=value"))
    var librdkafkaProperties: [String] = []

    // Not `--topic`: it would clash with `scorer broker --topic`.
    @Option(name: .customLong("bench-topic"), help: "Topic to produce to (produce) or read from (consume, passthrough).")
    var topic: String

    @Option(help: "Output topic of passthrough.")
    var to: String?

    @Option(help: "Number of messages.")
    var count: Int = 100_000

    @Option(help: "Value size in bytes (produce).")
    var size: Int = 150

    func validate() throws {
        guard count > 0, size >= 0 else { throw ValidationError("--count must be > 0 and --size >= 0.") }
        if mode == .passthrough, to == nil { throw ValidationError("passthrough needs --to TOPIC.") }
    }

    func run() async throws {
        let config = try KafkaConnectionOptions.makeConfig(
            brokers: bootstrap, properties: librdkafkaProperties, clientID: "scorer-bench", forConsumer: mode != .produce)
        let (topic, count, size) = (self.topic, self.count, self.size)
        let start = DispatchTime.now().uptimeNanoseconds
        switch mode {
        case .produce: try await KafkaThread.run(name: "bench") { try Self.produce(config: config, topic: topic, count: count, size: size) }
        case .consume: _ = try await KafkaThread.run(name: "bench") { try Self.consume(config: config, topic: topic, count: count, handOff: nil) }
        case .passthrough: try await Self.passthrough(config: config, from: topic, to: to!, count: count)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("\(mode.rawValue) \(count) messages in \(String(format: "%.3f", seconds)) s")
    }

    static func produce(config: KafkaConfig, topic: String, count: Int, size: Int) throws {
        let producer = try KafkaProducer(config: config)
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        var delivered = 0
        try value.withUnsafeBytes { valueBytes in
            for index in 0..<count {
                try producer.produce(topic: topic, keyBytes: nil, valueBytes: valueBytes, opaque: UInt64(index))
                if index & 1023 == 1023 { delivered += try pollChecked(producer) }
            }
        }
        try drain(producer, delivered: delivered, expected: count)
    }

    /// Reads `count` messages of every partition of `topic`. Each polled batch goes to `handOff`
    /// when given (which then owns it); otherwise the messages are only touched (a checksum).
    static func consume(config: KafkaConfig, topic: String, count: Int, handOff: ((KafkaMessageBatch) throws -> Void)?) throws -> Int {
        var config = config
        config.groupID = nil
        // Like the scoring service (and kcat without -f %h), it never looks at headers.
        let consumer = try KafkaConsumer(config: config, readsHeaders: false)
        try consumer.assignAll(topics: [topic], offset: TopicPartitionOffset.beginning)
        var batch = KafkaMessageBatch()
        var received = 0
        var checksum = 0
        var idle = 0
        while received < count {
            try consumer.poll(into: &batch, maxMessages: min(10_000, count - received), timeoutMs: 100)
            idle = batch.isEmpty ? idle + 1 : 0
            if idle > 100 { throw ValidationError("only \(received) of \(count) messages arrived within 10 s of silence") }
            received += batch.count
            if let handOff, !batch.isEmpty {
                try handOff(batch)
                batch = KafkaMessageBatch()
            } else {
                for message in batch { checksum &+= Int(message.value?.last ?? 0) &+ (message.value?.count ?? 0) }
            }
        }
        return checksum
    }

    /// Like `kcat -C ... | kcat -P`: a consuming thread hands each polled batch to a producing
    /// thread (a few batches in flight at most), which produces every message and waits for
    /// every delivery report.
    static func passthrough(config: KafkaConfig, from topic: String, to output: String, count: Int) async throws {
        let handoff = BatchHandoff(capacity: 4)
        let producer = try KafkaProducer(config: config)
        async let produced: Void = KafkaThread.run(name: "bench-produce") {
            do {
                var sent = 0
                var delivered = 0
                while let batch = handoff.take() {
                    for message in batch {
                        try message.withUnsafeKeyAndValueBytes { key, value in
                            try producer.produce(topic: output, keyBytes: key, valueBytes: value, opaque: UInt64(sent))
                        }
                        sent += 1
                    }
                    delivered += try pollChecked(producer)
                }
                try drain(producer, delivered: delivered, expected: sent)
            } catch {
                handoff.abandon()  // the consuming thread must not wait for room forever
                throw error
            }
        }
        var consumeFailure: (any Error)?
        do {
            try await KafkaThread.run(name: "bench-consume") {
                defer { handoff.finish() }
                _ = try consume(config: config, topic: topic, count: count) { batch in
                    guard handoff.put(batch) else { throw ValidationError("the producing side stopped") }
                }
            }
        } catch {
            consumeFailure = error
        }
        try await produced  // its error, if any, is the cause
        if let consumeFailure { throw consumeFailure }
    }

    /// Serves delivery reports; throws the first failed delivery.
    private static func pollChecked(_ producer: KafkaProducer, timeoutMs: Int = 0) throws -> Int {
        var failure: KafkaError? = nil
        let count = producer.pollDeliveries(max: 100_000, timeoutMs: timeoutMs) { report in
            if !report.isDelivered, failure == nil { failure = report.error }
        }
        if let failure { throw failure }
        return count
    }

    private static func drain(_ producer: KafkaProducer, delivered: Int, expected: Int) throws {
        try producer.flush(timeoutMs: 60_000)
        var delivered = delivered
        while delivered < expected {
            let served = try pollChecked(producer, timeoutMs: 1000)
            if served == 0 { throw ValidationError("only \(delivered) of \(expected) delivery reports arrived") }
            delivered += served
        }
    }
}

/// Batches in flight from the consuming to the producing thread of `scorer broker bench passthrough`.
///
/// `@unchecked Sendable`: every stored property is read and written only with `condition` locked.
final class BatchHandoff: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var queue: [KafkaMessageBatch] = []
    private var finished = false
    private var abandoned = false

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room, then queues `batch`; false when the taking side has abandoned.
    func put(_ batch: KafkaMessageBatch) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= capacity && !abandoned { condition.wait() }
        guard !abandoned else { return false }
        queue.append(batch)
        condition.broadcast()
        return true
    }

    /// No more batches will come.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// The taking side stops: `put` no longer waits.
    func abandon() {
        condition.lock()
        abandoned = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next batch, waiting for one; nil once finished and empty.
    func take() -> KafkaMessageBatch? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !finished { condition.wait() }
        guard !queue.isEmpty else { return nil }
        condition.broadcast()
        return queue.removeFirst()
    }
}
