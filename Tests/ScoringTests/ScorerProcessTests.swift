import Foundation
import Kafka
import TestBrokers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scorer run` as a child process against a broker that outlives it: crashes, restarts,
/// scale-out, graceful shutdown, hot reload and startup checks, as an operator meets them.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ScorerProcessTests {
    static let bundlePath = ScorerProcess.packageRoot.appendingPathComponent("models/install-v1").path
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("scorer-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func startScorer(
        _ cluster: TestCluster, name: String, model: String = bundlePath, sessionTimeout: Int = 6, extra: [String] = []
    ) throws -> ScorerProcess {
        try ScorerProcess(
            [
                "run", "--brokers", cluster.bootstrapServers,
            ] + cluster.commandLineOptions + [
                "--model", model, "--metrics-port", "0", "--metrics-host", "127.0.0.1",
                "--max-batch", "200", "--shutdown-timeout", "20", "--log-level", "info",
                // A crashed member's partitions move after this; the mock broker also waits it out
                // when a member leaves, and Tansu holds every join for half of it: keep it short.
                "--session-timeout", "\(sessionTimeout)", "-X", "heartbeat.interval.ms=500",
            ] + cluster.assignorOptions + extra,
            name: name, directory: directory)
    }

    /// Inputs predicted more than once, per input partition: how many and their offset range.
    static func duplicatesPerPartition(_ outputs: [Output]) -> [Int: (count: Int, offsets: ClosedRange<Int64>)] {
        var seen = Set<String>()
        var result: [Int: (count: Int, offsets: ClosedRange<Int64>)] = [:]
        for output in outputs where output.isPrediction && !seen.insert(output.source).inserted {
            guard let partition = output.headers["source.partition"].flatMap(Int.init),
                  let offset = output.headers["source.offset"].flatMap(Int64.init) else { continue }
            let previous = result[partition]
            result[partition] = ((previous?.count ?? 0) + 1,
                                 min(previous?.offsets.lowerBound ?? offset, offset)...max(previous?.offsets.upperBound ?? offset, offset))
        }
        return result
    }

    /// Every input (topic/partition/offset) of `expected` events has at least one prediction;
    /// returns how many inputs were predicted more than once.
    func checkComplete(_ outputs: [Output], expected: Int) -> (missing: Int, duplicates: Int) {
        var perSource: [String: Int] = [:]
        for output in outputs where output.isPrediction { perSource[output.source, default: 0] += 1 }
        let duplicates = perSource.values.reduce(0) { $0 + $1 - 1 }
        return (expected - perSource.count, duplicates)
    }

    // MARK: - Crash and restart

    @Test(.disabled(if: TestBroker.selected == .noida, Comment(rawValue: TestBroker.noidaKeepsKilledMembers)))
    func killedMidStreamAndRestartedEveryEventHasAPrediction() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(20_000)
        var first = try startScorer(cluster, name: "crash-1")
        #expect(await first.waitForLog("partitions assigned", timeout: .seconds(30)))
        // A steady stream (about 5 s long) that the scorer is busy with when it dies.
        async let produced: Void = cluster.produceSteadily(events, chunk: 400, pause: .milliseconds(100))
        let before = try await cluster.readOutputs(atLeast: 2_000, timeout: .seconds(30), settle: .zero)
        first.send(SIGKILL)
        #expect(await first.waitForExit(timeout: .seconds(10)) != 0)
        #expect(before.count < events.count, "kill -9 should land mid-stream (\(before.count) done)")
        try await produced

        first = try startScorer(cluster, name: "crash-2")
        let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(90))
        let (missing, duplicates) = checkComplete(outputs, expected: events.count)
        print("kill -9 mid-stream: \(events.count) events, \(duplicates) re-scored after restart, \(missing) missing")
        #expect(missing == 0)
        // Bounded: at most what was in flight or uncommitted when it died (commits every 100 ms).
        #expect(duplicates < 10_000)
        first.send(SIGTERM)
        #expect(await first.waitForExit(timeout: .seconds(30)) == 0)
    }

    // MARK: - Graceful shutdown

    @Test func sigtermMidStreamDrainsAndCommitsSoARestartRescoresNothing() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(20_000)
        let scorer = try startScorer(cluster, name: "drain-1")
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)))
        async let produced: Void = cluster.produceSteadily(events, chunk: 400, pause: .milliseconds(100))
        let before = try await cluster.readOutputs(atLeast: 2_000, timeout: .seconds(30), settle: .zero)
        #expect(before.count < events.count, "SIGTERM should land mid-stream")

        let stopStart = ContinuousClock.now
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(25)) == 0, "exit status 0 within the shutdown timeout\n\(scorer.log)")
        print("SIGTERM to exit: \(ContinuousClock.now - stopStart)")
        #expect(scorer.log.contains("drained, committed and left the group"))
        try await produced

        // Everything it produced is committed: nothing before the committed offsets lacks a
        // prediction, and the restart re-scores nothing.
        let restarted = try startScorer(cluster, name: "drain-2")
        let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(90))
        let (missing, duplicates) = checkComplete(outputs, expected: events.count)
        #expect(missing == 0)
        #expect(duplicates == 0, "a graceful stop must commit everything it produced")
        restarted.send(SIGTERM)
        #expect(await restarted.waitForExit(timeout: .seconds(30)) == 0)
        let (committed, end) = try await cluster.committedAndEnd(group: "scorer")
        #expect(committed.mapValues { Optional($0) } == end.mapValues { Optional($0) })
    }

    @Test(.disabled(if: TestBroker.selected != .mock, "takes the broker down: needs the mock cluster's fault injection"))
    func aSecondSignalExitsAtOnce() async throws {
        let cluster = try TestCluster()
        let scorer = try startScorer(cluster, name: "second-signal", extra: ["--shutdown-timeout", "60"])
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)))
        try await cluster.produce(TestEvents.valid(5_000))
        _ = try await cluster.readOutputs(atLeast: 100, timeout: .seconds(30), settle: .zero)
        // With the broker gone, the drain cannot finish: the first signal alone would wait out
        // the 60 s shutdown timeout.
        try cluster.cluster.setBrokerDown(1)
        scorer.send(SIGTERM)
        try await Task.sleep(for: .milliseconds(500))
        #expect(scorer.isRunning, "still draining after the first signal")
        let start = ContinuousClock.now
        scorer.send(SIGTERM)
        let status = await scorer.waitForExit(timeout: .seconds(5))
        #expect(status == 128 + SIGTERM, "exits at once on the second signal\n\(scorer.log)")
        #expect(ContinuousClock.now - start < .seconds(5))
        try cluster.cluster.setBrokerUp(1)
    }

    // MARK: - Scale out

    @Test func twoInstancesSharePartitionsAndStoppingOneMovesItsPartitionsWithoutLoss() async throws {
        let cluster = try TestCluster(inputPartitions: 4)
        let a = try startScorer(cluster, name: "group-a")
        #expect(await a.waitForLog("partitions assigned", timeout: .seconds(30)))
        let b = try startScorer(cluster, name: "group-b")
        #expect(await b.waitForLog("partitions assigned", timeout: .seconds(30)))

        let firstWave = TestEvents.valid(4_000, prefix: "wave1")
        try await cluster.produce(firstWave)
        _ = try await cluster.readOutputs(atLeast: firstWave.count, timeout: .seconds(60))
        let aIn = try await eventsIn(a)
        let bIn = try await eventsIn(b)
        #expect(aIn > 0 && bIn > 0, "both members score (a: \(aIn), b: \(bIn))")
        #expect(aIn + bIn >= firstWave.count)

        // Stop A while a second wave is being scored; B takes over its partitions.
        let secondWave = TestEvents.valid(8_000, prefix: "wave2", seed: 2)
        async let produced: Void = cluster.produce(secondWave)
        try await Task.sleep(for: .milliseconds(200))
        a.send(SIGTERM)
        #expect(await a.waitForExit(timeout: .seconds(25)) == 0)
        try await produced

        let all = firstWave.count + secondWave.count
        let outputs = try await cluster.readOutputs(atLeast: all, timeout: .seconds(90))
        let (missing, duplicates) = checkComplete(outputs, expected: all)
        print("scale-in: \(all) events, \(duplicates) scored twice, \(missing) missing")
        #expect(missing == 0)
        #expect(duplicates == 0, "a graceful hand-over commits before the partitions move; per partition, inputs scored twice: \(Self.duplicatesPerPartition(outputs))\nA:\n\(a.log)\nB:\n\(b.log)")
        #expect(try await eventsIn(b) > bIn)
        b.send(SIGTERM)
        #expect(await b.waitForExit(timeout: .seconds(25)) == 0)
    }

    @Test func aMemberWithoutPartitionsForThreeSessionTimeoutsSaysSoAtErrorLevel() async throws {
        // One partition, two members: one of them holds nothing, and with --session-timeout 6 it
        // must say so after 18 s (an error line and scorer_unassigned_seconds).
        let cluster = try TestCluster(inputPartitions: 1)
        let a = try startScorer(cluster, name: "idle-a")
        #expect(await a.waitForLog("partitions assigned", timeout: .seconds(30)))
        let b = try startScorer(cluster, name: "idle-b")
        let alert = "error scorer: group=scorer [Scoring] no partitions assigned for"
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, !a.log.contains(alert), !b.log.contains(alert) {
            try await Task.sleep(for: .milliseconds(250))
        }
        let idle = try #require([a, b].first { $0.log.contains(alert) }, "no member reported holding no partitions\n\(a.log)\n\(b.log)")
        let busy = idle === a ? b : a
        #expect(!busy.log.contains(alert))
        let (body, _) = try await httpGet("http://127.0.0.1:\(try metricsPort(of: idle))/metrics")
        let gauge = body.split(separator: "\n").first { $0.hasPrefix("scorer_unassigned_seconds ") }
        #expect((gauge?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 18, "\(gauge ?? "no scorer_unassigned_seconds")")
        for scorer in [a, b] { scorer.send(SIGTERM) }
        for scorer in [a, b] { #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0) }
    }

    // MARK: - Load simulator

    @Test func simulatorMeasureFindsEveryEventAnsweredByScorerRun() async throws {
        let cluster = try TestCluster(inputPartitions: 4)
        let scorer = try startScorer(cluster, name: "measured")
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)))
        // What an operator runs against a deployment: 4,000 events at 1,000/s, every answer read back.
        let simulator = try ScorerProcess(
            ["--brokers", cluster.bootstrapServers] + cluster.commandLineOptions + [
                "--rate", "1000", "--count", "4000", "--measure", "--drain", "5s", "--json",
            ],
            name: "simulator", directory: directory, executable: "simulator")
        let status = await simulator.waitForExit(timeout: .seconds(90))
        #expect(status == 0, "simulator --measure exits 0 only when every event was answered\n\(simulator.log)")
        let summaryLine = try #require(simulator.log.split(separator: "\n").last { $0.contains("\"type\":\"summary\"") })
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(summaryLine.utf8)) as? [String: Any])
        let counts = try #require(summary["counts"] as? [String: Any])
        #expect(counts["sent"] as? Int == 4_000)
        #expect(counts["predicted"] as? Int == 4_000)
        #expect(summary["missing"] as? Int == 0)
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0)
    }

    // MARK: - Hot reload

    @Test func sighupSwapsAGoodBundleAndRefusesABadOne() async throws {
        let cluster = try TestCluster(inputPartitions: 1)
        let bundle = directory.appendingPathComponent("bundle")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.bundlePath), to: bundle)
        let scorer = try startScorer(cluster, name: "reload", model: bundle.path)
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)))

        try await cluster.produce(TestEvents.valid(100, prefix: "v1"))
        var outputs = try await cluster.readOutputs(atLeast: 100, timeout: .seconds(30))
        #expect(outputs.allSatisfy { $0.json["model"] as? String == OfflineScorer.label(Self.bundlePath) })

        // A good new bundle (renamed in its card): swapped between batches.
        let card = bundle.appendingPathComponent("card.json")
        var cardJSON = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: card)) as? [String: Any])
        cardJSON["name"] = "install-v2"
        try JSONSerialization.data(withJSONObject: cardJSON).write(to: card)
        scorer.send(SIGHUP)
        #expect(await scorer.waitForLog("models swapped", timeout: .seconds(20)))
        try await cluster.produce(TestEvents.valid(100, prefix: "v2"))
        outputs = try await cluster.readOutputs(atLeast: 200, timeout: .seconds(30))
        #expect(outputs.filter { ($0.key ?? "").hasPrefix("v2-") }.allSatisfy { ($0.json["model"] as? String)?.hasPrefix("install-v2@") == true })

        // A broken bundle: refused, the current model keeps serving.
        try Data("{\"learner\": ".utf8).write(to: bundle.appendingPathComponent("model.json"))
        scorer.send(SIGHUP)
        #expect(await scorer.waitForLog("model reload refused", timeout: .seconds(20)))
        try await cluster.produce(TestEvents.valid(100, prefix: "v3"))
        outputs = try await cluster.readOutputs(atLeast: 300, timeout: .seconds(30))
        let third = outputs.filter { ($0.key ?? "").hasPrefix("v3-") }
        #expect(third.count == 100)
        #expect(third.allSatisfy { ($0.json["model"] as? String)?.hasPrefix("install-v2@") == true })
        #expect(scorer.isRunning)
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(25)) == 0)
    }

    // MARK: - Startup checks

    @Test func startupProblemsAreOneClearLine() async throws {
        let cluster = try TestCluster()
        let cases: [(name: String, arguments: [String], expected: String)] = [
            ("bad bundle", ["--model", directory.path], "error: model bundle '\(directory.path)' is invalid"),
            ("bad -X", ["-X", "no.such.property=1"], "no.such.property"),
            ("missing topic", ["--input-topic", "no-such-topic"], "error: input topic 'no-such-topic' does not exist"),
        ]
        for (name, arguments, expected) in cases {
            let scorer = try startScorer(cluster, name: "startup-\(name.replacingOccurrences(of: " ", with: "-"))", extra: arguments)
            let status = await scorer.waitForExit(timeout: .seconds(30))
            #expect(status == 1, "\(name): exit status")
            let errorLines = scorer.log.split(separator: "\n").filter { $0.hasPrefix("error: ") }
            #expect(errorLines.count == 1, "\(name): one error line, got:\n\(scorer.log)")
            #expect(errorLines.first?.contains(expected) == true, "\(name): \(errorLines)")
        }
        // No broker at all.
        let unreachable = try ScorerProcess(
            ["run", "--brokers", "127.0.0.1:1", "--model", Self.bundlePath, "--no-metrics", "--startup-timeout", "2"],
            name: "startup-unreachable", directory: directory)
        #expect(await unreachable.waitForExit(timeout: .seconds(30)) == 1)
        #expect(unreachable.log.contains("error: cannot reach Kafka at 127.0.0.1:1"), "\(unreachable.log)")
    }

    // MARK: - The demo

    /// `scorer demo` (the README's first command) answers every event it sends: it starts sending
    /// only once the scorer holds its partitions (it exits with status 2 when any event got no
    /// answer, and its summary says how many).
    @Test func theDemoAnswersEveryEvent() async throws {
        let demo = try ScorerProcess(
            ["demo", "--rate", "5000", "--duration", "4s", "--metrics-port", "0"], name: "demo", directory: directory)
        let status = await demo.waitForExit(timeout: .seconds(90))
        #expect(status == 0, "scorer demo exit status \(String(describing: status)):\n\(demo.log.suffix(3000))")
        #expect(demo.log.contains("Predictions: 20,000 of 20,000  missing 0"), "\(demo.log.suffix(3000))")
    }

    // MARK: - Helpers

    /// The port of a child's /metrics (from its log).
    func metricsPort(of scorer: ScorerProcess) throws -> Int {
        let line = try #require(scorer.log.split(separator: "\n").first { $0.contains("metrics on http://") })
        return try #require(line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
    }

    /// `scorer_events_in_total` from a child's /metrics.
    func eventsIn(_ scorer: ScorerProcess) async throws -> Int {
        let (body, status) = try await httpGet("http://127.0.0.1:\(try metricsPort(of: scorer))/metrics")
        #expect(status == 200)
        let sample = body.split(separator: "\n").first { $0.hasPrefix("scorer_events_in_total ") }
        return Int(sample?.split(separator: " ").last ?? "0") ?? 0
    }
}
