import Features
import Forest
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import TestBrokers
import Testing
@testable import Scoring

/// The service in this process, against the development cluster over TCP: predictions, dead
/// letters, commits and metrics.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ScoringServiceTests {
    static let bundlePath = ScorerProcess.packageRoot.appendingPathComponent("models/install-v1").path

    @Test func everyEventGetsExactlyOnePredictionEqualToOfflineScoring() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(3_000)
        try await cluster.produce(events)

        let outputs = try await withService(cluster) { service in
            let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
            // Counted once acknowledged; the stats agree with what the topic holds.
            let stats = service.stats()
            #expect(stats.eventsIn == events.count)
            #expect(stats.predictionsOut == events.count)
            #expect(stats.deadLetters == 0)
            #expect(stats.model == OfflineScorer.label(Self.bundlePath))
            #expect(stats.model.hasPrefix("install-v1@"))
            #expect(stats.latencyMicros.totalCount == UInt64(events.count))
            return outputs
        }

        #expect(outputs.count == events.count)
        #expect(outputs.allSatisfy { $0.isPrediction })
        // Exactly one per input offset, and the source headers name them: each partition of the
        // fresh input topic holds offsets 0..<n.
        #expect(Set(outputs.map(\.source)).count == events.count)
        let offsetsByPartition = Dictionary(grouping: outputs, by: { $0.headers["source.partition"] ?? "?" })
            .mapValues { $0.compactMap { $0.headers["source.offset"].flatMap(Int64.init) }.sorted() }
        for (partition, offsets) in offsetsByPartition {
            #expect(offsets == (0..<Int64(offsets.count)).map { $0 }, "source.offset headers of partition \(partition)")
        }

        let offline = try OfflineScorer(bundlePath: Self.bundlePath)
        let byKey = Dictionary(uniqueKeysWithValues: events.map { ($0.key!, $0.value!) })
        var mismatches = 0
        var misplaced = 0
        for output in outputs {
            let key = try #require(output.key)
            let event = try #require(byKey[key])
            let json = output.json
            #expect(json["id"] as? String == key)
            #expect(json["model"] as? String == offline.model.label)
            #expect(output.headers["source.topic"] == TestCluster.input)
            #expect((json["scored_at"] as? NSNumber) != nil && (json["event_ts"] as? NSNumber) != nil)
            if output.printedP != offline.printedP(event) { mismatches += 1 }
            // Keyed like a Java producer would: consumers can co-partition with their own topics.
            if output.partition != javaClientPartition(of: key, partitions: TestCluster.outputPartitions) { misplaced += 1 }
        }
        #expect(mismatches == 0, "p differs from offline scoring for \(mismatches) events")
        #expect(misplaced == 0, "\(misplaced) predictions are not in the partition the Java client's partitioner picks for their key")

        // And the same as `scorer score --events` prints for those events.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("score-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("events.jsonl")
        let printed = directory.appendingPathComponent("predictions.jsonl")
        try TestEvents.writeJSONLines(events, to: input)
        let score = try ScorerProcess(
            ["score", "--events", input.path, "--model", Self.bundlePath, "--output", printed.path], name: "score", directory: directory)
        #expect(await score.waitForExit(timeout: .seconds(60)) == 0, "\(score.log)")
        var offlineP: [String: String] = [:]
        for line in try String(contentsOf: printed, encoding: .utf8).split(separator: "\n") {
            let output = Output(topic: TestCluster.output, key: nil, value: Array(line.utf8), headers: [:])
            if let id = output.json["id"] as? String { offlineP[id] = output.printedP }
        }
        #expect(offlineP.count == events.count)
        #expect(outputs.filter { offlineP[$0.key ?? ""] != $0.printedP }.isEmpty, "p differs from 'scorer score --events'")
    }

    @Test func malformedEventsGoToDeadLettersWithTheirReasonAndTheStreamKeepsFlowing() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        // Good events before, between and after every kind of bad one, in one partition.
        var events = TestEvents.valid(5, prefix: "before")
        for (index, bad) in TestEvents.malformed.enumerated() {
            events.append(bad.event)
            events += TestEvents.valid(3, prefix: "after-\(index)", seed: UInt64(index + 10))
        }
        try await cluster.produce(events)
        let goodCount = events.count - TestEvents.malformed.count
        let expected = events.count

        let outputs = try await withService(cluster) { service in
            let outputs = try await cluster.readOutputs(atLeast: expected, timeout: .seconds(60))
            #expect(service.stats().deadLetters == TestEvents.malformed.count)
            let metrics = service.metrics.render()
            #expect(metrics.contains("scorer_dead_letters_total{reason=\"wrong_type\"} 1"))
            #expect(metrics.contains("scorer_dead_letters_total{reason=\"not_json\"} 2"))
            return outputs
        }

        #expect(outputs.filter(\.isPrediction).count == goodCount)
        let deadLetters = outputs.filter { !$0.isPrediction }
        #expect(deadLetters.count == TestEvents.malformed.count)
        for bad in TestEvents.malformed {
            let letter = try #require(deadLetters.first { $0.key == bad.event.key }, "no dead letter for \(bad.name)")
            #expect(letter.value == (bad.event.value ?? []), "dead letter of \(bad.name) is not the original bytes")
            let error = try #require(letter.headers["error"], "no error header for \(bad.name)")
            #expect(!error.contains("\n"))
            #expect(letter.headers["source.topic"] == TestCluster.input)
            #expect(letter.headers["source.partition"] == "0")
            #expect(letter.headers["source.offset"].flatMap(Int64.init) != nil)
            _ = error
        }
        // Reasons are the featurizer's: check the codes via the offline featurizer.
        let offline = try OfflineScorer(bundlePath: Self.bundlePath)
        for bad in TestEvents.malformed {
            #expect(offline.errorCode(bad.event.value ?? []) == bad.code, "\(bad.name)")
            let letter = deadLetters.first { $0.key == bad.event.key }
            #expect(letter?.headers["error"] == offline.errorDescription(bad.event.value ?? []), "\(bad.name)")
        }
    }

    @Test func aBacklogScoredOnTheWorkerThreadKeepsEveryEventAndItsDeadLetters() async throws {
        // A backlog in one partition is consumed in full micro-batches (>= workerMinimumBatch), so
        // they are featurized and scored on the worker while the previous one is produced.
        let cluster = try TestCluster(inputPartitions: 1)
        var events: [TestEvent] = []
        var badOffsets: [Int64: String] = [:]
        for (index, bad) in TestEvents.malformed.enumerated() {
            events += TestEvents.valid(150, prefix: "bulk-\(index)", seed: UInt64(100 + index))
            badOffsets[Int64(events.count)] = bad.name
            events.append(bad.event)
        }
        events += TestEvents.valid(150, prefix: "tail", seed: 99)
        try await cluster.produce(events)
        let batch = 2 * BatchScorer.workerMinimumBatch
        let expected = events.count

        let outputs = try await withService(cluster, maxBatch: batch) { service in
            let outputs = try await cluster.readOutputs(atLeast: expected, timeout: .seconds(60))
            #expect(service.stats().deadLetters == TestEvents.malformed.count)
            return outputs
        }

        #expect(outputs.count == events.count)
        let offsets = outputs.compactMap { $0.headers["source.offset"].flatMap(Int64.init) }
        #expect(offsets.sorted() == (0..<Int64(events.count)).map { $0 }, "one output per input offset")
        for output in outputs where !output.isPrediction {
            let offset = try #require(output.headers["source.offset"].flatMap(Int64.init))
            #expect(badOffsets[offset] != nil, "dead letter at offset \(offset) is not a malformed event")
            #expect(output.value == (events[Int(offset)].value ?? []))
        }
        let offline = try OfflineScorer(bundlePath: Self.bundlePath)
        let byKey = Dictionary(events.map { ($0.key ?? "", $0.value ?? []) }, uniquingKeysWith: { first, _ in first })
        let wrong = outputs.filter(\.isPrediction).filter { offline.printedP(byKey[$0.key ?? ""] ?? []) != $0.printedP }
        #expect(wrong.isEmpty, "\(wrong.count) predictions differ from offline scoring")
    }

    @Test func gracefulShutdownCommitsEverythingAcknowledged() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(1_000)
        try await cluster.produce(events)
        _ = try await withService(cluster, group: "commit-test") { _ in
            try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
        }
        let (committed, end) = try await cluster.committedAndEnd(group: "commit-test")
        #expect(committed.mapValues { Optional($0) } == end.mapValues { Optional($0) })
    }

    @Test func metricsEndpointServesPrometheusTextAndProbes() async throws {
        let cluster = try TestCluster()
        try await cluster.produce(TestEvents.valid(50))
        try await withService(cluster, metricsPort: 0) { service in
            _ = try await cluster.readOutputs(atLeast: 50, timeout: .seconds(60))
            let port = try #require(service.metricsPort)
            let (metrics, metricsStatus) = try await httpGet("http://127.0.0.1:\(port)/metrics")
            #expect(metricsStatus == 200)
            for series in [
                "scorer_events_in_total 50", "scorer_events_out_total{kind=\"prediction\"} 50",
                "scorer_batch_size_bucket", "scorer_scoring_seconds_bucket", "scorer_e2e_latency_seconds_bucket",
                "scorer_model_info{role=\"primary\",model=\"\(OfflineScorer.label(Self.bundlePath))\"} 1",
                "scorer_rebalances_total", "scorer_producer_queue_depth", "scorer_assigned_partitions 4",
                "scorer_variant_p_count{variant=\"primary\",model=\"\(OfflineScorer.label(Self.bundlePath))\"} 50",
            ] {
                #expect(metrics.contains(series), "missing \(series)")
            }
            let health = try await httpGet("http://127.0.0.1:\(port)/healthz")
            #expect(health.1 == 200)
            let ready = try await httpGet("http://127.0.0.1:\(port)/readyz")
            #expect(ready.1 == 200)
            #expect(ready.0 == "ready: 4 partitions assigned\n")
        }
    }

    @Test func watchedBundleIsReloadedWhenItChangesAndABrokenOneIsRefused() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let bundle = directory.appendingPathComponent("bundle")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.bundlePath), to: bundle)

        try await withService(cluster, modelPath: bundle.path, watchInterval: .milliseconds(100)) { service in
            try await cluster.produce(TestEvents.valid(50, prefix: "one"))
            _ = try await cluster.readOutputs(atLeast: 50, timeout: .seconds(30))
            #expect(service.stats().model.hasPrefix("install-v1@"))

            let card = bundle.appendingPathComponent("card.json")
            var cardJSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: card)) as? [String: Any])
            cardJSON["name"] = "install-v1-retrained"
            try JSONSerialization.data(withJSONObject: cardJSON).write(to: card)
            #expect(await eventually { service.stats().model.hasPrefix("install-v1-retrained@") })
            try await cluster.produce(TestEvents.valid(50, prefix: "two"))
            let outputs = try await cluster.readOutputs(atLeast: 100, timeout: .seconds(30))
            let second = outputs.filter { ($0.key ?? "").hasPrefix("two-") }
            #expect(second.count == 50)
            #expect(second.allSatisfy { ($0.json["model"] as? String)?.hasPrefix("install-v1-retrained@") == true })

            try Data("not a model".utf8).write(to: bundle.appendingPathComponent("model.json"))
            #expect(await eventually { service.stats().reloadsRejected == 1 })
            try await cluster.produce(TestEvents.valid(50, prefix: "three"))
            let after = try await cluster.readOutputs(atLeast: 150, timeout: .seconds(30))
            let third = after.filter { ($0.key ?? "").hasPrefix("three-") }
            #expect(third.count == 50)
            #expect(third.allSatisfy { ($0.json["model"] as? String)?.hasPrefix("install-v1-retrained@") == true })
            #expect(service.stats().reloadsAccepted == 1)
        }
    }

    @Test(.disabled(if: TestBroker.selected != .mock, "takes the output topics' broker down: needs the mock cluster's fault injection"))
    func consumptionPausesWhileOutputsCannotBeDeliveredAndNothingIsLost() async throws {
        // Input on broker 1, outputs on broker 2: with broker 2 down the service can still read
        // but not deliver, so only backpressure keeps it from buffering the whole backlog.
        let cluster = try TestCluster(inputPartitions: 1, brokers: 2)
        try await withService(cluster, maxBatch: 100, maxInFlight: 500) { service in
            try await cluster.produce(TestEvents.valid(10, prefix: "warmup"))
            _ = try await cluster.readOutputs(atLeast: 10, timeout: .seconds(30))

            try cluster.cluster.setBrokerDown(2)
            let backlog = TestEvents.valid(5_000, prefix: "backlog")
            try await cluster.produce(backlog)
            #expect(await eventually { service.stats().inFlight >= 500 })
            try await Task.sleep(for: .seconds(2))
            let stalled = service.stats()
            #expect(stalled.eventsIn - 10 <= 500 + 100, "read \(stalled.eventsIn - 10) events while none could be delivered")
            #expect(stalled.predictionsOut == 10)

            try cluster.cluster.setBrokerUp(2)
            let outputs = try await cluster.readOutputs(atLeast: 5_010, timeout: .seconds(90))
            #expect(Set(outputs.map(\.source)).count == 5_010)
            #expect(service.stats().eventsIn == 5_010)
        }
    }

    @Test func consumerLagComesFromLibrdkafkaStatistics() async throws {
        let cluster = try TestCluster(inputPartitions: 2)
        try await cluster.produce(TestEvents.valid(200))
        try await withService(cluster) { service in
            _ = try await cluster.readOutputs(atLeast: 200, timeout: .seconds(30))
            // Statistics arrive every second; once caught up, each assigned partition reports lag 0.
            #expect(await eventually(timeout: .seconds(10)) {
                let lag = service.stats().lagByPartition
                return lag.count == 2 && lag.values.allSatisfy { $0 == 0 }
            })
            let metrics = service.metrics.render()
            #expect(metrics.contains("scorer_consumer_lag{topic=\"impressions\",partition=\"0\"} 0"))
        }
    }

    // MARK: - Helpers

    /// Polls `condition` until it holds or `timeout` passes.
    func eventually(timeout: Duration = .seconds(15), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// Runs a service in a ServiceGroup while `body` runs, then shuts it down gracefully and
    /// checks that it stopped cleanly.
    func withService<Result: Sendable>(
        _ cluster: TestCluster, group: String = "scorer", metricsPort: Int? = nil, maxBatch: Int = 200,
        maxInFlight: Int = 50_000, modelPath: String = bundlePath, watchInterval: Duration? = nil,
        properties: [String: String] = [:], configure: (inout ScoringConfiguration) -> Void = { _ in },
        _ body: @Sendable (ScoringService) async throws -> Result
    ) async throws -> Result {
        var configuration = ScoringConfiguration(kafka: cluster.config)
        configuration.kafka.properties.merge(properties) { $1 }
        configuration.modelPath = modelPath
        configuration.watchModelInterval = watchInterval
        configuration.group = group
        configuration.metricsPort = metricsPort
        configuration.metricsHost = "127.0.0.1"
        configuration.reloadOnSIGHUP = false
        configuration.maxBatch = maxBatch
        configuration.maxInFlight = maxInFlight
        configuration.shutdownTimeout = .seconds(20)
        configure(&configuration)
        var logger = Logger(label: "test-scorer")
        logger.logLevel = .notice
        let service = try ScoringService(configuration: configuration, logger: logger)
        let serviceGroup = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        let running = Task { try await serviceGroup.run() }
        do {
            let result = try await body(service)
            await serviceGroup.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await serviceGroup.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }
}

/// Scores events one at a time outside the service (featurizer + evaluator + encoder), the
/// reference the streamed predictions must equal.
struct OfflineScorer {
    let model: ScoringModel
    let featurizer: Featurizer

    init(bundlePath: String) throws {
        model = try ScoringModel.load(path: bundlePath)
        featurizer = Featurizer(spec: model.spec)
    }

    /// The identity (`name@hash`) the bundle's predictions carry.
    static func label(_ bundlePath: String) -> String {
        (try? ScoringModel.load(path: bundlePath).label) ?? "?"
    }

    func printedP(_ event: [UInt8]) -> String? {
        guard let (row, _) = try? featurizer.featurize(event) else { return nil }
        guard let p = try? model.forest.predict(row).first else { return nil }
        return p.description
    }

    func errorCode(_ event: [UInt8]) -> String? {
        do { _ = try featurizer.featurize(event); return nil } catch { return error.code.rawValue }
    }

    func errorDescription(_ event: [UInt8]) -> String? {
        do { _ = try featurizer.featurize(event); return nil } catch { return error.description }
    }
}

/// GETs a URL over plain HTTP/1.1 (tiny client: no Foundation networking needed).
func httpGet(_ url: String) async throws -> (String, Int) {
    try await KafkaThread.run(name: "test-http") {
        let parsed = try #require(URL(string: url))
        let port = try #require(parsed.port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0, "cannot connect to \(url)")
        let request = "GET \(parsed.path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (body, status)
    }
}
