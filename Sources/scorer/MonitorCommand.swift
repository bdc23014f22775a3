import ArgumentParser
import Foundation
import Hummingbird
import KafkaOptions
import LoadSimulator
import ModelBundles
import Monitor
import Synchronization

struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Join predictions with install outcomes and report each model's calibration, AUC, log loss and Brier score.",
        discussion: """
            A consumer-group service over --predictions and --outcomes (both keyed by impression id, with \
            the same partition count: partition N of one joins partition N of the other, so members join \
            locally and scale out like the scorer). An id waits --join-window for its other half; a \
            prediction still without an outcome then counts as a negative, an outcome without a \
            prediction as unmatched. Duplicated predictions and outcomes within the window count once. \
            At most --max-pending ids are held per partition; beyond, the oldest are evicted and counted.

            Per model identity and variant (the predictions' "model" and "variant"), over sliding \
            windows (--windows, default 5m,1h): labelled predictions, mean p, observed rate, \
            calibration ratio (mean p / rate), log loss, Brier score, AUC (from p histograms) and a \
            reliability table by decile of p. A prediction enters the windows when its label is known.

            The state is derived: it lives in memory and is rebuilt from the two topics. With --start \
            window (the default) every partition a member is assigned (at start, after a restart or a \
            rebalance) is read again from now - (join window + longest --windows), the first offset at \
            that time (offsetsForTimes), so the joins and windows come back as an uninterrupted member \
            has them; committed offsets only serve lag. Keep both topics' retention at least that long. \
            --start committed resumes at the group's committed offsets instead: quicker, but the ids in \
            flight lose their join and the windows refill within their length.

            --card BUNDLE (repeatable) exports the bundle's validation AUC from its card.json as \
            scorer_monitor_card_auc{model="<identity>"}, which deploy/prometheus/alerts.yml compares \
            the live AUC with.

            Outputs: /metrics (Prometheus) with --metrics-port, --follow (a live table every \
            --interval), --json (NDJSON per interval). Without --follow it reports once after \
            --duration (default 10s) and exits.

            Examples:
              scorer monitor --brokers @.scorer-brokers --follow
              scorer monitor --metrics-port 9101 --join-window 1h --json > monitor.ndjson
            """)

    @Option(help: "Topic the scorer publishes predictions to.")
    var predictions = "predictions"

    @Option(help: "Topic the outcomes (installs) arrive on.")
    var outcomes = "installs"

    @Option(help: "Consumer group of the monitor instances.")
    var group = "scorer-monitor"

    @Option(help: ArgumentHelp("How long an id waits for its prediction or outcome.", valueName: "duration"))
    var joinWindow = "1h"

    @Option(help: ArgumentHelp("Most ids held per partition (memory cap); the oldest are evicted beyond it.", valueName: "n"))
    var maxPending = 2_000_000

    @Option(help: ArgumentHelp("Sliding windows to report over, comma-separated.", valueName: "durations"))
    var windows = "5m,1h"

    @Option(help: ArgumentHelp(
        "Where assigned partitions start: window (read again from now - join window - longest window, rebuilding the state) or committed (the group's committed offsets).",
        valueName: "window|committed"))
    var start = MonitorStart.window.rawValue

    @Flag(help: "Keep reporting every --interval until Ctrl-C (a live table, or NDJSON with --json).")
    var follow = false

    @Option(help: ArgumentHelp("Time between reports with --follow.", valueName: "duration"))
    var interval = "2s"

    @Option(help: ArgumentHelp("Without --follow: report once after this long.", valueName: "duration"))
    var duration = "10s"

    @Flag(help: "Print NDJSON: one object per model, variant and window, and one with the join counters.")
    var json = false

    @Option(help: ArgumentHelp("Serve Prometheus metrics on this port (0: any free port).", valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("A model bundle whose card's validation AUC to export (repeatable).", valueName: "folder"))
    var card: [String] = []

    @Option(help: ArgumentHelp("At the end, write an HTML report: reliability diagram and metrics over time (inline SVG).", valueName: "file.html"))
    var report: String?

    @Option(help: ArgumentHelp("Benchmark instead: join N in-memory predictions with their outcomes on one thread (5 rounds), print predictions/s and exit.", valueName: "n"))
    var bench: Int?

    @Option(help: ArgumentHelp(
        "Benchmark through Kafka: once the group holds its partitions, read until N predictions are labelled, print the rate and CPU time (with --json: to stderr, and the final metrics as NDJSON) and exit.",
        valueName: "n"))
    var drain: Int?

    @Option(help: "Address to serve metrics on.")
    var metricsHost = "0.0.0.0"

    @OptionGroup(title: "Kafka connection")
    var connection: KafkaConnectionOptions

    func validate() throws {
        guard let window = DurationText.seconds(joinWindow), window >= 0.001 else {
            throw ValidationError("--join-window expects a duration like 1h or 30s; got '\(joinWindow)'.")
        }
        guard MonitorStart(rawValue: start) != nil else {
            throw ValidationError("--start expects window or committed; got '\(start)'.")
        }
        if let bench, bench < 20_000 { throw ValidationError("--bench needs at least 20000 predictions.") }
        if let drain, drain < 1 { throw ValidationError("--drain needs a positive count.") }
        guard maxPending > 0 else { throw ValidationError("--max-pending must be positive.") }
        guard parsedWindows() != nil else {
            throw ValidationError("--windows expects durations of at least 60ms separated by commas, like 5m,1h; got '\(windows)'.")
        }
        guard let seconds = DurationText.seconds(interval), seconds >= 0.1 else {
            throw ValidationError("--interval expects a duration of at least 100ms; got '\(interval)'.")
        }
        guard DurationText.seconds(duration) != nil else { throw ValidationError("--duration expects a duration like 10s.") }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0...65535.") }
    }

    private func parsedWindows() -> [Int64]? {
        let values = windows.split(separator: ",").map { DurationText.seconds(String($0)).map { Int64(($0 * 1000).rounded()) } }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 60 }) else { return nil }
        return values.map { $0! }
    }

    func run() async throws {
        if let bench {
            let rounds = MonitorBenchmark.run(count: bench, rounds: 5)
            for (index, round) in rounds.enumerated() {
                print("round \(index + 1): \(round.predictions) predictions and outcomes joined in "
                      + String(format: "%.3f s: %.0f predictions/s", round.seconds, round.predictionsPerSecond))
            }
            let median = rounds.map(\.predictionsPerSecond).sorted()[rounds.count / 2]
            print(String(format: "median: %.0f predictions/s (one thread)", median))
            return
        }
        let kafka = try connection.makeConfig(clientID: "scorer-monitor", groupID: group, forConsumer: true)
        let settings = MonitorSettings(
            joinWindowMs: Int64(DurationText.seconds(joinWindow)! * 1000), maxPendingPerPartition: maxPending,
            windowsMs: parsedWindows()!)
        let cardAUC = try Dictionary(card.map { try Self.cardAUC($0) }, uniquingKeysWith: { first, _ in first })
        let runner = try MonitorRunner(
            kafka: kafka, topics: MonitorTopics(predictions: predictions, outcomes: outcomes), settings: settings, start: MonitorStart(rawValue: start)!,
            snapshotIntervalMs: drain == nil ? 1000 : 50)
        runner.start()
        if let drain {
            try await Self.drain(runner, labels: drain, timeoutSeconds: DurationText.seconds(duration)!, json: json)
            return
        }
        let stopped = StopFlag()
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .main)
            source.setEventHandler { stopped.set() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }

        var server: Task<Void, any Error>?
        if let metricsPort {
            let router = Router()
            router.get("metrics") { _, _ -> Response in
                let text = runner.snapshot.map { MonitorText.prometheus($0, lag: runner.lag, cardAUC: cardAUC) } ?? ""
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
            }
            router.get("healthz") { _, _ in "ok\n" }
            let app = Application(
                router: router, configuration: .init(address: .hostname(metricsHost, port: metricsPort), serverName: "scorer-monitor"),
                onServerRunning: { channel in
                    FileHandle.standardError.write(Data("scorer monitor: metrics on http://\(metricsHost):\(channel.localAddress?.port ?? metricsPort)/metrics\n".utf8))
                })
            server = Task { try await app.runService(gracefulShutdownSignals: []) }
        }

        let redraw = follow && !json && isatty(STDOUT_FILENO) != 0
        var drawnLines = 0
        let step = UInt64(DurationText.seconds(follow ? interval : duration)! * 1e9)
        let started = DispatchTime.now().uptimeNanoseconds
        var reports = 0
        while !stopped.isSet {
            let due = started + UInt64(reports + 1) * step
            while !stopped.isSet, DispatchTime.now().uptimeNanoseconds < due, runner.failure == nil {
                try await Task.sleep(nanoseconds: min(100_000_000, due - DispatchTime.now().uptimeNanoseconds))
            }
            if let failure = runner.failure {
                FileHandle.standardError.write(Data("scorer monitor: \(failure)\n".utf8))
                throw ExitCode(1)
            }
            reports += 1
            if let snapshot = runner.snapshot {
                if json {
                    print(MonitorText.jsonLines(snapshot).joined(separator: "\n"))
                } else {
                    var lines = ["\(Self.clock.string(from: Date())) partitions \(runner.assigned.count)" + (runner.lag.map { ", lag \($0)" } ?? "")]
                    lines += MonitorText.table(snapshot)
                    if redraw {
                        if drawnLines > 0 { print("\u{1B}[\(drawnLines)A\u{1B}[J", terminator: "") }
                        drawnLines = lines.count
                    } else if reports > 1 {
                        lines.insert("", at: 0)
                    }
                    print(lines.joined(separator: "\n"))
                }
                fflush(nil)
            }
            if !follow { break }
        }
        runner.stop()
        await runner.wait()
        server?.cancel()
        if let report {
            let subtitle = "scorer " + CommandLine.arguments.dropFirst().joined(separator: " ")
            try MonitorReport(history: runner.history, last: runner.snapshot, subtitle: subtitle).write(to: report)
            if !json { print("Report written to \(report)") }
        }
    }

    /// Waits for the group to assign partitions, then times reading until `labels` predictions
    /// are labelled: wall time and this process's CPU time (every thread, librdkafka's included).
    /// With `json`, the final snapshot goes to stdout as NDJSON and the timing line to stderr.
    static func drain(_ runner: MonitorRunner, labels: Int, timeoutSeconds: Double, json: Bool) async throws {
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }
        func labelled() -> Int { runner.snapshot?.models.reduce(0) { $0 + $1.lifetime.count } ?? 0 }
        let deadline = Date().addingTimeInterval(max(timeoutSeconds, 60))
        while runner.assigned.isEmpty, runner.failure == nil, Date() < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let startWall = DispatchTime.now().uptimeNanoseconds
        let startCPU = cpuSeconds()
        let startLabels = labelled()
        while labelled() < labels, runner.failure == nil, Date() < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - startWall) / 1e9
        let cpu = cpuSeconds() - startCPU
        let done = labelled()
        runner.stop()
        await runner.wait()
        if let failure = runner.failure { throw ValidationError("scorer monitor: \(failure)") }
        guard done >= labels else {
            throw ValidationError("--drain: only \(done) of \(labels) predictions labelled before the time limit (--duration)")
        }
        let line = String(
            format: "drained %d labelled predictions (%d before the clock started) in %.3f s: %.0f predictions/s, %.2f CPU-s per million (process, all threads)",
            done, startLabels, seconds, Double(done - startLabels) / seconds, cpu / Double(done - startLabels) * 1e6)
        if json, let snapshot = runner.snapshot {
            FileHandle.standardError.write(Data((line + "\n").utf8))
            print(MonitorText.jsonLines(snapshot).joined(separator: "\n"))
        } else {
            print(line)
        }
    }

    /// The identity (as predictions name the model) and card validation AUC of a bundle folder.
    static func cardAUC(_ folder: String) throws -> (String, Double) {
        let url = URL(fileURLWithPath: folder)
        // The model file the bundle holds: model.json (XGBoost) or model.txt (LightGBM).
        guard let model = (try? Data(contentsOf: url.appendingPathComponent("model.json")))
                ?? (try? Data(contentsOf: url.appendingPathComponent("model.txt"))),
            let spec = try? Data(contentsOf: url.appendingPathComponent("features.json")),
            let cardData = try? Data(contentsOf: url.appendingPathComponent("card.json")),
            let card = try? JSONSerialization.jsonObject(with: cardData) as? [String: Any],
            let name = card["name"] as? String,
            let auc = ((card["validation"] as? [String: Any])?["auc"] as? NSNumber)?.doubleValue
        else {
            throw ValidationError("--card \(folder): expected a bundle with model.json or model.txt, features.json and a card.json naming the model and its validation.auc")
        }
        return (ModelIdentity(name: name, contents: [Array(model), Array(spec)]).description, auc)
    }

    private static let clock: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()
}

/// A flag set by the signal source (on the main queue) and read by the report loop.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
