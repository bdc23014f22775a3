import ArgumentParser
import Foundation
import Kafka
import KafkaOptions
import LoadSimulator

@main
struct Simulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Replay impression events into Kafka at a fixed rate and measure the scorer.",
        discussion: """
            Sends the events of --data to --topic at --rate events/s, keyed by event id and stamped with \
            the send time. Pacing follows an absolute schedule: every one-second window stays within 1% \
            of the rate and no wake-up sends more than one linger interval's worth; when the producer or \
            the machine cannot keep up, each second says so and the summary names the shortfall.

            Without --duration or --count the data is sent once (with --loop: until Ctrl-C). --loop \
            replays it again and again, giving every event a fresh id (<id>~<pass>) and moving its dates \
            on by whole multiples of the data's time span.

            --measure also reads the predictions (and dead letters) the scorer publishes and reports, \
            every second and at the end, end-to-end latency percentiles (send to prediction received, \
            HDR histogram), events with no answer (missing), duplicates and dead letters. After the last \
            send it waits for the remaining answers until none has arrived for --drain. It reads them \
            read_committed by default (--isolation): against `scorer run --guarantee exactly-once` that is \
            what downstream consumers see, and answers of aborted transactions are not counted; \
            --isolation read-uncommitted counts them (as duplicates of the inputs answered again).

            --outcomes also sends each event's label (the test data's install column) to --outcomes-topic, \
            --outcome-delay after the event: {"id": <event id>, "installed": true|false, "ts": <ms>}, keyed \
            by the event id, for `scorer monitor` to join with the predictions.

            --drift FIELD:SHIFT (repeatable) shifts a numeric field of every event sent, to demonstrate \
            feature drift (`scorer run` exports scorer_feature_psi): SHIFT is +N or -N (add N), *F or xF \
            (multiply by F). FIELD is one of \(FieldDrift.fields.joined(separator: ", ")). An event without \
            the field (or with null) is sent as it is.

            --ramp START:STEP:MAX is a capacity search: the rate starts at START and rises by STEP every \
            --step until latency p99 exceeds --slo or the events awaiting an answer keep growing; the \
            summary names the highest sustainable rate.

            Ctrl-C stops sending early; answers are still drained and the summary printed. The exit status is 2 when --measure found events without any answer.

            Examples:
              simulator --brokers @.scorer-brokers --rate 5000 --duration 60 --measure
              simulator --data events.jsonl --count 100000 --loop --measure --json > run.ndjson
              simulator --measure --duration 2m --report report.html
              simulator --ramp 1000:1000:20000 --step 10s --slo 50ms
              simulator --duration 2m --drift startCount7d:+10 --drift viewCount:*3
            """)

    @Option(help: ArgumentHelp("Events to replay: a .csv.gz test data file or a JSON-lines file.", valueName: "file"))
    var data = "simulator/data/test_data.csv.gz"

    @Option(help: ArgumentHelp("Read only the first N events of --data (faster start for short runs).", valueName: "n"))
    var maxEvents: Int?

    @Option(help: "Topic the events are sent to.")
    var topic = "impressions"

    @Option(help: ArgumentHelp("Target send rate, events per second.", valueName: "events/s"))
    var rate: Double = 5000

    @Option(help: ArgumentHelp("Send for this long, e.g. 60, 60s, 2m.", valueName: "duration"))
    var duration: String?

    @Option(help: ArgumentHelp("Send this many events in total.", valueName: "n"))
    var count: Int?

    @Flag(help: "Replay the data again (fresh ids, dates moved on) until the duration or count is reached.")
    var loop = false

    @Option(help: ArgumentHelp("Producer linger interval; pacing never bursts more than one interval's worth.", valueName: "ms"))
    var lingerMs = ReplaySettings.defaultLingerMs

    @Flag(help: "Read the predictions and dead letters back and report latency and completeness.")
    var measure = false

    @Option(help: "Topic the scorer publishes predictions to (with --measure).")
    var predictionsTopic = "predictions"

    @Option(help: "Dead-letter topic to read (with --measure); 'none' to skip it.")
    var deadLetterTopic = "impressions.dlq"

    @Option(help: ArgumentHelp(
        "Which answers --measure reads: read-committed (the default, as librdkafka's and as downstream readers of an exactly-once scorer read: answers of aborted transactions are not seen, and latency includes the wait for each transaction's commit) or read-uncommitted (every answer written, an input answered again after an aborted transaction counts as a duplicate). Without transactions both read the same.",
        valueName: "level"))
    var isolation = MeasureSettings.Isolation.readCommitted.rawValue

    /// The parsed --isolation (validated in `validate()`).
    var measureIsolation: MeasureSettings.Isolation { MeasureSettings.Isolation(rawValue: isolation) ?? .readCommitted }

    @Option(help: ArgumentHelp("After the last send, wait for answers until none arrived for this long.", valueName: "duration"))
    var drain = "10s"

    @Flag(help: "Send each event's outcome (its install label) to --outcomes-topic after --outcome-delay.")
    var outcomes = false

    @Option(help: "Topic the outcomes go to (with --outcomes).")
    var outcomesTopic = "installs"

    @Option(help: ArgumentHelp("How long after its event an outcome is sent (with --outcomes).", valueName: "duration"))
    var outcomeDelay = "2s"

    @Option(help: ArgumentHelp("Shift a numeric event field in everything sent (repeatable): +N, -N, *F or xF.", valueName: "field:shift"))
    var drift: [String] = []

    @Flag(help: "Print one JSON object per second and a summary object (NDJSON) instead of text.")
    var json = false

    @Option(help: ArgumentHelp("Write a self-contained HTML report with charts to this file.", valueName: "file.html"))
    var report: String?

    @Option(help: ArgumentHelp("Capacity search: rates START, START+STEP, ... up to MAX (events/s). Implies --measure.", valueName: "start:step:max"))
    var ramp: String?

    @Option(help: ArgumentHelp("How long each ramp step lasts.", valueName: "duration"))
    var step = "10s"

    @Option(help: ArgumentHelp("Latency objective for --ramp: a step whose p99 exceeds it is not sustainable.", valueName: "duration"))
    var slo = "100ms"

    @OptionGroup(title: "Kafka connection")
    var connection: KafkaConnectionOptions

    func validate() throws {
        guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be a positive number of events per second, got \(rate).") }
        if duration != nil && count != nil { throw ValidationError("Give --duration or --count, not both.") }
        if let duration, (DurationText.seconds(duration) ?? 0) <= 0 {
            throw ValidationError("--duration expects a positive duration like 60, 30s, 2m; got '\(duration)'.")
        }
        if let count, count <= 0 { throw ValidationError("--count must be positive, got \(count).") }
        if let maxEvents, maxEvents <= 0 { throw ValidationError("--max-events must be positive, got \(maxEvents).") }
        guard DurationText.seconds(drain) != nil else { throw ValidationError("--drain expects a duration like 10s; got '\(drain)'.") }
        if ramp != nil {
            guard let stepSeconds = DurationText.seconds(step), stepSeconds >= 2, stepSeconds == stepSeconds.rounded() else {
                throw ValidationError("--step expects a whole number of seconds, at least 2 (e.g. 10s); got '\(step)'.")
            }
            guard let sloSeconds = DurationText.seconds(slo), sloSeconds > 0 else {
                throw ValidationError("--slo expects a latency like 100ms or 0.25s; got '\(slo)'.")
            }
            if duration != nil || count != nil {
                throw ValidationError("--ramp decides how long to run: drop --duration/--count.")
            }
        }
        guard let delay = DurationText.seconds(outcomeDelay), delay >= 0 else {
            throw ValidationError("--outcome-delay expects a duration like 2s or 500ms; got '\(outcomeDelay)'.")
        }
        guard (0...10_000).contains(lingerMs) else { throw ValidationError("--linger-ms must be 0...10000.") }
        if MeasureSettings.Isolation(rawValue: isolation) == nil {
            throw ValidationError("--isolation must be one of \(MeasureSettings.Isolation.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(isolation)').")
        }
        if try connection.parsedProperties()["isolation.level"] != nil {
            throw ValidationError("Set how --measure reads with --isolation read-committed|read-uncommitted, not -X isolation.level.")
        }
        _ = try drifts()
    }

    /// The parsed --drift options.
    func drifts() throws -> [FieldDrift] {
        do throws(LoadSimulatorError) {
            return try drift.map { text throws(LoadSimulatorError) in try FieldDrift(parsing: text) }
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let drifts = try drifts()
        let catalog: EventCatalog
        do throws(LoadSimulatorError) {
            catalog = try EventSource.load(path: data, limit: maxEvents).drifted(drifts)
        } catch {
            throw ValidationError(error.message)
        }
        let kafka = try connection.makeConfig(clientID: "load-simulator", forConsumer: true)

        var limit = ReplayLimit.unlimited
        if let duration { limit = .duration(DurationText.seconds(duration)!) }
        if let count { limit = .count(count) }
        var settings = LoadTestSettings(
            replay: ReplaySettings(
                topic: topic, rate: rate, limit: limit, loop: loop || ramp != nil, lingerMs: lingerMs,
                outcomes: outcomes ? OutcomeSettings(topic: outcomesTopic, delaySeconds: DurationText.seconds(outcomeDelay)!) : nil),
            drainQuietSeconds: DurationText.seconds(drain)!)
        if measure || ramp != nil {
            settings.measure = MeasureSettings(
                predictionsTopic: predictionsTopic, deadLetterTopic: deadLetterTopic == "none" ? nil : deadLetterTopic,
                isolation: measureIsolation)
        }
        if let ramp {
            do throws(LoadSimulatorError) {
                settings.ramp = try RampSettings(
                    parsing: ramp, stepSeconds: Int(DurationText.seconds(step)!),
                    sloP99Ms: DurationText.seconds(slo)! * 1000)
            } catch {
                throw ValidationError(error.message)
            }
        }

        let test: LoadTest
        do throws(LoadSimulatorError) {
            test = try LoadTest(catalog: catalog, kafka: kafka, settings: settings)
        } catch {
            throw ValidationError(error.message)
        }
        let interrupts = InterruptHandler { test.stop() }
        defer { interrupts.cancel() }

        if !json {
            let what = ramp.map { "ramp \($0) events/s" } ?? "\(Int(rate)) events/s"
            print("Replaying \(catalog.count) events from \(data) to \(topic) on \(kafka.bootstrapServers) at \(what)"
                  + (settings.measure != nil ? ", measuring \(predictionsTopic) \(isolation)" : "")
                  + (outcomes ? ", outcomes to \(outcomesTopic) after \(outcomeDelay)" : "")
                  + (drift.isEmpty ? "" : ", drifted: " + drifts.map(\.description).joined(separator: ", ")) + " (Ctrl-C stops)")
        }
        let measured = settings.measure != nil
        var samples: [SecondSample] = []
        let summary: LoadTestSummary
        do throws(LoadSimulatorError) {
            summary = try await test.run { sample in
                samples.append(sample)
                if json {
                    print(LoadTestText.jsonLine(type: "second", sample))
                } else {
                    print(LoadTestText.line(sample, measured: measured))
                }
                fflush(nil)
            }
        } catch {
            FileHandle.standardError.write(Data("simulator: \(error.message)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(LoadTestText.jsonLine(type: "summary", summary))
        } else {
            print("")
            print(LoadTestText.summary(summary))
        }
        if let report {
            let subtitle = "simulator " + CommandLine.arguments.dropFirst().joined(separator: " ")
            do throws(LoadSimulatorError) {
                try HTMLReport(summary: summary, samples: samples, subtitle: subtitle).write(to: report)
            } catch {
                FileHandle.standardError.write(Data("simulator: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
            if !json { print("Report written to \(report)") }
        }
        if measured && summary.missing > 0 { throw ExitCode(2) }
    }
}

/// Calls `handler` on the first SIGINT/SIGTERM; a second one exits at once.
final class InterruptHandler {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable () -> Void) {
        let queue = DispatchQueue(label: "signals")
        let fired = LockedFlag()
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if fired.set() { exit(130) }
                FileHandle.standardError.write(Data("Stopping: draining the answers (Ctrl-C again to quit now)\n".utf8))
                handler()
            }
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}

/// A flag set once; `set()` says whether it was already set.
final class LockedFlag: @unchecked Sendable {
    // Sendable: `value` is only read and written while holding `lock`.
    private let lock = NSLock()
    private var value = false

    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let old = value
        value = true
        return old
    }
}
