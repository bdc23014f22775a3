import ArgumentParser
import Foundation
import Kafka
import KafkaOptions
import LoadSimulator
import Logging
import Monitor
import Scoring
import ServiceLifecycle

/// `scorer demo`: the whole product in one process — a development Kafka cluster, the scoring
/// service and the load simulator — with a live status line and a closing summary.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole pipeline in one process: Kafka brokers, the scorer and the load simulator.",
        discussion: """
            Starts an embedded development Kafka cluster (librdkafka's mock brokers on 127.0.0.1) \
            with the topics impressions, predictions and impressions.dlq, the scoring service \
            (exactly what 'scorer run' runs) and the load simulator, which replays the test data \
            at --rate events/s for --duration and reads every prediction back.

            Once per second a status line shows the send rate and the scorer's input and output \
            rates, end-to-end latency of that second (send to prediction read back, p50/p99), the \
            scorer's consumer lag and the dead letters so far. It is redrawn in place on a \
            terminal and printed as plain lines otherwise. At the end the simulator waits for the \
            last answers and prints a summary: events sent, predicted, dead-lettered, duplicates, \
            missing (events without any answer: must be 0), latency percentiles, and the process's \
            CPU time and memory.

            With --brokers (or $SCORER_BROKERS) it uses that cluster instead; the topics must \
            exist there, and the scorer consumes in group --group from its committed offsets.

            Ctrl-C stops sending early; the answers still in flight are collected and the summary \
            printed. The exit status is 2 when events are missing.

            --outcomes also replays each event's install label to the topic installs, --outcome-delay \
            after the event, and runs 'scorer monitor' beside the scorer: every 5 s a line gives each \
            model's labelled predictions, mean p against the observed rate, calibration ratio and AUC, \
            and the summary ends with the monitor's table.

            Run it from the repository root (the default --model and --data paths are relative).

            Examples:
              scorer demo
              scorer demo --rate 20000 --duration 1m --partitions 16
              scorer demo --brokers @/tmp/scorer.brokers --duration 2m
              scorer demo --canary models/install-v2 --canary-percent 20
              scorer demo --canary models/install-biased --canary-percent 20 --outcomes
            """
    )

    @Option(help: ArgumentHelp("Events per second the simulator sends.", valueName: "events/s"))
    var rate: Double = 5000

    @Option(help: ArgumentHelp("How long to send, e.g. 30s, 2m, 90.", valueName: "duration"))
    var duration = "30s"

    @Option(help: "Partitions of each topic of the embedded cluster (ignored with --brokers). One keeps the development broker fastest; more show how partitions spread.")
    var partitions = 1

    @Option(help: ArgumentHelp("The model bundle folder the scorer serves.", valueName: "folder"))
    var model = "models/install-v1"

    @Option(help: ArgumentHelp("A second bundle that scores every event too (published as p_shadow).", valueName: "folder"))
    var shadow: String?

    @Option(help: ArgumentHelp("A bundle that answers --canary-percent of the events (by a hash of the event id).", valueName: "folder"))
    var canary: String?

    @Option(help: ArgumentHelp("The canary's share of events, 0-100.", valueName: "percent"))
    var canaryPercent: Double = 10

    @Flag(help: "Replay the install labels to --outcomes-topic and run the monitor (calibration, AUC per model).")
    var outcomes = false

    @Option(help: "Topic of outcomes (with --outcomes).")
    var outcomesTopic = "installs"

    @Option(help: ArgumentHelp("How long after its event an outcome is sent (with --outcomes).", valueName: "duration"))
    var outcomeDelay = "2s"

    @Option(help: ArgumentHelp("With --outcomes: write the monitor's HTML report (reliability diagram, metrics over time) here.", valueName: "file.html"))
    var monitorReport: String?

    @Option(help: ArgumentHelp("Events to replay: the .csv.gz test data or a JSON-lines file.", valueName: "file"))
    var data = "simulator/data/test_data.csv.gz"

    @Option(help: "Consumer group of the scorer.")
    var group = "scorer-demo"

    @Option(help: "Topic of impression events.")
    var inputTopic = "impressions"

    @Option(help: "Topic of predictions.")
    var outputTopic = "predictions"

    @Option(help: "Dead-letter topic.")
    var dlqTopic = "impressions.dlq"

    @Option(help: ArgumentHelp("Serve the scorer's Prometheus metrics on this port (none by default).", valueName: "port"))
    var metricsPort: Int?

    @Option(help: ArgumentHelp("Log level of the scorer and simulator (trace, debug, info, notice, warning, error, critical); logs go to standard error.", valueName: "level"))
    var logLevel = "warning"

    @OptionGroup(title: "External Kafka cluster (optional: without it an embedded cluster is started)")
    var connection: KafkaConnectionOptions

    func validate() throws {
        guard rate > 0, rate.isFinite, rate <= 1_000_000 else {
            throw ValidationError("--rate must be a number of events per second between 1 and 1000000, got \(rate).")
        }
        guard let seconds = DurationText.seconds(duration), seconds > 0 else {
            throw ValidationError("--duration expects a positive duration like 30s, 2m or 90; got '\(duration)'.")
        }
        guard (1...1000).contains(partitions) else {
            throw ValidationError("--partitions must be 1...1000, got \(partitions).")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got '\(logLevel)').")
        }
        if let metricsPort, !(0...65_535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be 0...65535, got \(metricsPort).")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("No model bundle at '\(model)': run 'scorer demo' from the repository root, or pass --model FOLDER.")
        }
        for (flag, path) in [("--shadow", shadow), ("--canary", canary)] {
            if let path, !(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
                throw ValidationError("No model bundle at '\(path)' for \(flag).")
            }
        }
        guard (0...100).contains(canaryPercent) else {
            throw ValidationError("--canary-percent must be between 0 and 100, got \(canaryPercent).")
        }
        guard DurationText.seconds(outcomeDelay) != nil else {
            throw ValidationError("--outcome-delay expects a duration like 2s; got '\(outcomeDelay)'.")
        }
        guard FileManager.default.isReadableFile(atPath: data) else {
            throw ValidationError("No event file at '\(data)': run 'scorer demo' from the repository root, or pass --data FILE.")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        routeLibrdkafkaLogs(to: Logger(label: "librdkafka"))
        var logger = Logger(label: "scorer.demo")
        logger.logLevel = level
        let seconds = DurationText.seconds(duration) ?? 30

        // Events first: a bad file fails before anything starts.
        let catalog: EventCatalog
        do {
            catalog = try LoadSimulator.EventSource.load(path: data)
        } catch {
            throw CommandFailure("cannot read events from '\(data)': \(error)")
        }

        // The cluster: embedded unless one was given.
        let cluster: DevelopmentCluster?
        let kafka: KafkaConfig
        let external = connection.brokers != nil
            || !(ProcessInfo.processInfo.environment[KafkaConnectionOptions.environmentVariable] ?? "").isEmpty
        if external {
            cluster = nil
            kafka = try connection.makeConfig(clientID: "scorer-demo")
        } else {
            let started = try DevelopmentCluster(brokers: 1)
            for topic in [inputTopic, outputTopic, dlqTopic] + (outcomes ? [outcomesTopic] : []) {
                try started.createTopic(topic, partitions: partitions)
            }
            var config = KafkaConfig.developmentCluster(bootstrapServers: started.bootstrapServers)
            config.clientID = "scorer-demo"
            // The mock broker finds every fetch offset by walking the partition's list of retained
            // message sets, and answers a fetch with one set per partition, so many small sets
            // (short lingers, many partitions) slow it down until consumers fall behind. One
            // partition and a 1 ms linger keep a few events per set and the walk short
            // (BENCHMARKS.md, "Service vs Python baseline").
            config.lingerMs = 1
            config.properties.merge(try connection.parsedProperties()) { _, given in given }
            cluster = started
            kafka = config
        }
        defer { cluster?.stop() }

        var scoring = ScoringConfiguration(kafka: kafka)
        scoring.inputTopic = inputTopic
        scoring.outputTopic = outputTopic
        scoring.deadLetterTopic = dlqTopic
        scoring.group = group
        scoring.modelPath = model
        scoring.shadowModelPath = shadow
        scoring.canaryModelPath = canary
        scoring.canaryPercent = canaryPercent
        scoring.metricsPort = metricsPort
        scoring.reloadOnSIGHUP = false
        let service = try ScoringService(configuration: scoring, logger: logger)

        let loadTest = try LoadTest(
            catalog: catalog, kafka: kafka,
            settings: LoadTestSettings(
                // The replayer applies its own linger: the embedded cluster's 1 ms (see above), else
                // the simulator's default.
                replay: ReplaySettings(
                    topic: inputTopic, rate: rate, limit: .duration(seconds), loop: true,
                    lingerMs: kafka.lingerMs ?? ReplaySettings.defaultLingerMs,
                    outcomes: outcomes
                        ? OutcomeSettings(topic: outcomesTopic, delaySeconds: DurationText.seconds(outcomeDelay)!) : nil),
                measure: MeasureSettings(predictionsTopic: outputTopic, deadLetterTopic: dlqTopic),
                drainQuietSeconds: 5))

        let status = StatusLine()
        let where_ = cluster.map { "embedded cluster at \($0.bootstrapServers), \(partitions) partition\(partitions == 1 ? "" : "s") per topic" }
            ?? "brokers \(kafka.bootstrapServers)"
        let serving = "model \(model)" + (shadow.map { ", shadow \($0)" } ?? "")
            + (canary.map { ", canary \($0) (\(DemoText.number(canaryPercent)) %)" } ?? "")
        status.print("scorer demo: \(where_); \(serving); replaying \(catalog.count) events from \(data) at \(DemoText.number(rate))/s for \(DemoText.seconds(seconds))")
        var monitor: MonitorRunner?
        if outcomes {
            var monitorKafka = kafka
            monitorKafka.groupID = group + "-monitor"
            // Every replayed event gets an outcome: a short join window only expires the few whose
            // outcome could not be sent.
            let runner = try MonitorRunner(
                kafka: monitorKafka, topics: MonitorTopics(predictions: outputTopic, outcomes: outcomesTopic),
                settings: MonitorSettings(joinWindowMs: 60_000))
            monitor = runner  // started by the driver once the scorer consumes

        }
        defer { monitor?.stop() }
        let driver = DemoDriver(service: service, loadTest: loadTest, status: status, monitor: monitor)

        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: service),
                .init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = scoring.shutdownTimeout + .seconds(30)
        try await ServiceGroup(configuration: groupConfiguration).run()

        guard let outcome = driver.outcome else {
            throw CommandFailure("the load test did not finish")
        }
        let final = service.stats()
        for line in DemoText.summary(outcome: outcome, scorer: final, usage: ProcessUsage.now()) {
            status.print(line)
        }
        if let monitor {
            // The last outcomes arrive --outcome-delay after the last events.
            try await Task.sleep(nanoseconds: UInt64((DurationText.seconds(outcomeDelay)! + 1.5) * 1e9))
            monitor.stop()
            await monitor.wait()
            if let snapshot = monitor.snapshot {
                status.print("")
                status.print("Monitor (scorer monitor: predictions joined with outcomes):")
                for line in MonitorText.table(snapshot) { status.print(line) }
            }
            if let monitorReport {
                let subtitle = "scorer " + CommandLine.arguments.dropFirst().joined(separator: " ")
                try MonitorReport(history: monitor.history, last: monitor.snapshot, subtitle: subtitle).write(to: monitorReport)
                status.print("Monitor report written to \(monitorReport)")
            }
        }
        if outcome.summary.missing > 0 {
            throw ExitCode(2)
        }
    }
}
