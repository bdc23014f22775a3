import ArgumentParser
import Foundation
import KafkaOptions
import LoadSimulator

struct LagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lag",
        abstract: "Show a consumer group's lag per partition: committed offset, log end, lag, rates, time to catch up.",
        discussion: """
            Reads the topic's watermarks and the group's committed offsets from the brokers. It never \
            joins the group, so it runs from any machine that reaches the brokers while the scorer works.

            lag = log end - committed (the messages produced but not yet committed; log end - log start \
            for a partition the group never committed). consumed/s and produced/s are measured over the \
            last interval; catch-up is lag / (consumed/s - produced/s) while the group gains on the \
            producers, 'keeping up' when the lag is under one second of consumption (commits trail the \
            log by the commit interval), 'falling behind' otherwise.

            With --follow the table is redrawn in place every --interval on a terminal, or printed again \
            as plain lines when the output is not a terminal. --json prints one JSON object per sample \
            (NDJSON) with every figure.

            Examples:
              scorer lag --brokers @.scorer-brokers
              scorer lag --group scorer --topic impressions --follow --interval 2s
              scorer lag --follow --json | jq .total.lag
            """)

    @Option(help: "Consumer group to report on.")
    var group = "scorer"

    @Option(help: "Topic the group consumes.")
    var topic = "impressions"

    @Flag(help: "Keep sampling every --interval until Ctrl-C.")
    var follow = false

    @Option(help: ArgumentHelp("Time between samples (with --follow); rates are measured over it.", valueName: "duration"))
    var interval = "1s"

    @Flag(help: "Print one JSON object per sample (NDJSON).")
    var json = false

    @OptionGroup(title: "Kafka connection")
    var connection: KafkaConnectionOptions

    func validate() throws {
        guard let seconds = DurationText.seconds(interval), seconds >= 0.1 else {
            throw ValidationError("--interval expects a duration of at least 100ms, like 1s or 500ms; got '\(interval)'.")
        }
        guard !group.isEmpty, !topic.isEmpty else { throw ValidationError("--group and --topic must not be empty.") }
    }

    func run() async throws {
        let kafka = try connection.makeConfig(clientID: "scorer-lag")
        let monitor: ConsumerLagMonitor
        do throws(LoadSimulatorError) {
            monitor = try ConsumerLagMonitor(kafka: kafka, group: group, topic: topic)
        } catch {
            throw ValidationError(error.message)
        }
        let intervalNanoseconds = UInt64(DurationText.seconds(interval)! * 1e9)
        let redraw = follow && !json && isatty(STDOUT_FILENO) != 0
        var drawnLines = 0
        var notedNoCommits = false
        var samples = 0
        while true {
            let started = DispatchTime.now().uptimeNanoseconds
            let report: LagReport
            do throws(LoadSimulatorError) {
                report = try await Self.sample(monitor)
            } catch {
                FileHandle.standardError.write(Data("scorer lag: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
            samples += 1
            if json {
                print(LoadTestText.jsonLine(type: "lag", report))
            } else {
                var lines: [String] = []
                let time = Date(timeIntervalSince1970: Double(report.timeMs) / 1000)
                lines.append("group \(group) on \(topic) at \(Self.clock.string(from: time))")
                lines += LagText.table(report)
                if let note = LagText.note(report) {
                    if redraw || !notedNoCommits { lines.append(note) }
                    notedNoCommits = true
                }
                if redraw {
                    // Move up over the previous table and clear it, then draw the new one.
                    if drawnLines > 0 { print("\u{1B}[\(drawnLines)A\u{1B}[J", terminator: "") }
                    drawnLines = lines.count
                } else if samples > 1 {
                    lines.insert("", at: 0)
                }
                print(lines.joined(separator: "\n"))
            }
            fflush(nil)
            guard follow else { break }
            let elapsed = DispatchTime.now().uptimeNanoseconds - started
            if elapsed < intervalNanoseconds { try await Task.sleep(nanoseconds: intervalNanoseconds - elapsed) }
        }
    }

    /// Samples on a dispatch queue: the broker round trips block.
    private static func sample(_ monitor: ConsumerLagMonitor) async throws(LoadSimulatorError) -> LagReport {
        let result: Result<LagReport, LoadSimulatorError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(LoadSimulatorError) {
                    continuation.resume(returning: .success(try monitor.sample()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    private static let queue = DispatchQueue(label: "scorer-lag")

    private static let clock: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()
}
