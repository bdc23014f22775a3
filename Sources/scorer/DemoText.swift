import Foundation
import Monitor
import LoadSimulator
import Scoring

/// The demo's live status line: redrawn in place on a terminal, one plain line per update otherwise
/// (so a log file or CI output gets one line per second).
final class StatusLine: Sendable {
    /// Whether standard output is a terminal.
    let isTerminal: Bool

    init(isTerminal: Bool = isatty(STDOUT_FILENO) != 0) {
        self.isTerminal = isTerminal
    }

    /// Shows `line`, replacing the previous one on a terminal.
    func show(_ line: String) {
        if isTerminal {
            // Carriage return + "erase line": the cursor stays on the status line.
            write("\r\u{1B}[2K" + line)
        } else {
            write(line + "\n")
        }
    }

    /// Prints a plain line (through the same unbuffered path as the status line, so the order holds).
    func print(_ line: String) {
        write(line + "\n")
    }

    /// Ends the status line (on a terminal, moves past it).
    func finish() {
        if isTerminal { write("\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// CPU time and peak memory of this process so far.
struct ProcessUsage: Sendable {
    var userSeconds: Double
    var systemSeconds: Double
    var maxResidentMegabytes: Double

    var cpuSeconds: Double { userSeconds + systemSeconds }

    static func now() -> ProcessUsage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        // Linux reports ru_maxrss in kilobytes.
        return ProcessUsage(
            userSeconds: seconds(usage.ru_utime), systemSeconds: seconds(usage.ru_stime),
            maxResidentMegabytes: Double(usage.ru_maxrss) / 1024)
    }
}

/// Text of the demo's status line and summary.
enum DemoText {
    /// One second of the run: what the simulator sent and got back, what the scorer took in and
    /// put out, end-to-end latency of that second, lag and dead letters.
    static func statusLine(sample: SecondSample, scorer: ScoringStats, scorerRates: (inPerSecond: Double, outPerSecond: Double)) -> String {
        let phase = sample.draining ? "drain" : "\(sample.second + 1)s"
        let latency = sample.latency.count > 0
            ? "e2e p50 \(ms(sample.latency.p50Ms)) p99 \(ms(sample.latency.p99Ms))"
            : "e2e -"
        return [
            pad(phase, 6),
            "sent \(pad(number(Double(sample.sent)), 7))/s",
            "scorer in \(pad(number(scorerRates.inPerSecond), 7))/s out \(pad(number(scorerRates.outPerSecond), 7))/s",
            latency,
            "lag \(number(Double(scorer.totalLag)))",
            "dead letters \(number(Double(scorer.deadLetters)))",
            "answered \(number(Double(sample.total.predicted + sample.total.deadLettered)))/\(number(Double(sample.total.sent)))",
        ].joined(separator: "  ") + (scorer.variants.count > 1 ? "  " + variants(scorer.variants) : "")
    }

    /// Per serving model, with a shadow or canary: `primary mean p 0.0121 (4,512) | canary ...`.
    static func variants(_ variants: [VariantSummary]) -> String {
        variants.map { "\($0.variant) mean p \(String(format: "%.4f", $0.meanP)) (\(number(Double($0.events))))" }
            .joined(separator: " | ")
    }

    /// The closing summary: the simulator's figures, the scorer's own view, CPU and memory.
    static func summary(outcome: DemoOutcome, scorer: ScoringStats, usage: ProcessUsage) -> [String] {
        let s = outcome.summary
        var lines = ["", "Summary"]
        lines += LoadTestText.summary(s).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
        let batches = max(scorer.batches, 1)
        lines.append(
            "  Scorer: \(number(Double(scorer.eventsIn))) events in, \(number(Double(scorer.predictionsOut))) predictions and "
                + "\(number(Double(scorer.deadLetters))) dead letters acknowledged, \(number(Double(scorer.batches))) batches "
                + "(mean \(number(Double(scorer.eventsIn) / Double(batches))) events), model \(scorer.model)")
        for variant in scorer.variants where scorer.variants.count > 1 {
            lines.append(
                "  \(variant.variant.capitalized) \(variant.model): \(number(Double(variant.events))) events, mean p \(String(format: "%.5f", variant.meanP))")
        }
        let h = scorer.latencyMicros
        if h.totalCount > 0 {
            func p(_ q: Double) -> String { ms(Double(h.valueAtPercentile(q)) / 1000) }
            lines.append(
                "  Scorer latency (event timestamp to prediction acknowledged): p50 \(p(50)) p99 \(p(99)) max \(ms(Double(h.max) / 1000))")
        }
        let share = outcome.seconds > 0 ? usage.cpuSeconds / outcome.seconds * 100 : 0
        lines.append(
            "  CPU: \(String(format: "%.1f", usage.cpuSeconds)) s (user \(String(format: "%.1f", usage.userSeconds)) s, "
                + "system \(String(format: "%.1f", usage.systemSeconds)) s) for brokers, scorer and simulator together in this process "
                + "(\(String(format: "%.0f", share))% of one core over the \(String(format: "%.0f", outcome.seconds)) s run); "
                + "peak memory \(String(format: "%.0f", usage.maxResidentMegabytes)) MB")
        if s.missing == 0 {
            lines.append("  Missing: 0 — every event sent got a prediction or a dead letter.")
        } else {
            lines.append("  Missing: \(number(Double(s.missing))) events got no answer (at-least-once violated or the drain was cut short).")
        }
        return lines
    }

    /// `12,345` style integers.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let rounded = Int(value.rounded())
        let digits = String(abs(rounded))
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(character)
        }
        return (rounded < 0 ? "-" : "") + grouped
    }

    /// `30 s`, `2 min`, `1.5 s`.
    static func seconds(_ value: Double) -> String {
        if value >= 120, value.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(value) / 60) min" }
        return value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }

    static func ms(_ value: Double) -> String {
        value < 10 ? String(format: "%.2f ms", value) : String(format: "%.1f ms", value)
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}

extension DemoText {
    /// `monitor 10s: install-v1@… primary 41,233 labelled, calibration 1.01, AUC 0.774 | …`: each
    /// model's shortest window, as `scorer monitor` measures it.
    static func monitorLine(_ snapshot: MonitorSnapshot, second: Int) -> String {
        let models = snapshot.models.compactMap { model -> String? in
            guard let window = model.windows.first, window.stats.count > 0 else { return nil }
            let s = window.stats
            return "\(model.key.model) \(model.key.variant) \(number(Double(s.count))) labelled, mean p "
                + String(format: "%.4f", s.meanP) + " vs rate " + String(format: "%.4f", s.observedRate)
                + ", calibration " + (s.calibrationRatio.isFinite ? String(format: "%.2f", s.calibrationRatio) : "-")
                + ", AUC " + (s.auc.isFinite ? String(format: "%.3f", s.auc) : "-")
        }
        return "monitor \(second)s: " + (models.isEmpty ? "no labelled predictions yet" : models.joined(separator: " | "))
    }
}
