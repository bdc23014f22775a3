import Foundation

/// Text and JSON renderings of load-test figures, shared by `simulator` and `scorer demo`.
public enum LoadTestText {
    /// One line for one second, e.g.
    /// `  12s  sent 5,000/s  predicted 4,998/s  p50 3.1 ms  p99 8.4 ms  max 11.0 ms  pending 14  dup 0  dlq 0`.
    public static func line(_ sample: SecondSample, measured: Bool) -> String {
        var text = String(format: "%5ds", sample.second)
        if sample.draining {
            text += "  draining        "
        } else {
            text += "  sent \(pad(number(Double(sample.sent)), 7))/s"
        }
        if measured {
            text += "  predicted \(pad(number(Double(sample.predicted)), 7))/s"
            if sample.latency.count > 0 {
                text += "  p50 \(pad(formatMs(sample.latency.p50Ms), 5)) ms  p99 \(pad(formatMs(sample.latency.p99Ms), 5)) ms"
                text += "  max \(pad(formatMs(sample.latency.maxMs), 5)) ms"
            } else {
                text += "  p50     - ms  p99     - ms  max     - ms"
            }
            text += "  pending \(number(Double(sample.total.pending)))  dup \(number(Double(sample.total.duplicates)))"
            text += "  dlq \(number(Double(sample.total.deadLettered + sample.total.untrackedDeadLetters)))"
        } else {
            text += "  total \(number(Double(sample.total.sent)))"
        }
        if !sample.keptUp {
            if Double(sample.sent) < sample.targetRate {
                text += "  [behind: \(number(Double(sample.sent))) of \(number(sample.targetRate)) sent, \(number(Double(sample.backlog))) overdue]"
            } else {
                text += "  [catching up: \(number(Double(sample.sent))) sent for \(number(sample.targetRate))]"
            }
        }
        return text
    }

    /// The final summary as a few aligned lines.
    public static func summary(_ s: LoadTestSummary) -> String {
        var lines: [String] = []
        lines.append(
            "Sent \(number(Double(s.counts.sent))) events to \(s.topic) in \(String(format: "%.1f", s.sendSeconds)) s: "
                + "\(number(s.achievedRate))/s (target \(number(s.targetRate))/s)")
        if s.keptUp {
            lines.append(
                "Pacing: every full second within 1% of the target"
                    + (s.rampSteps == nil ? "" : " (seconds the rate changed in aside)")
                    + " (worst \(String(format: "%.2f", s.worstSecondDeviation * 100))%)")
        } else {
            let cause = "the send thread woke up to \(formatMs(s.longestWakeDelayMs)) ms late and its longest produce call took "
                + "\(formatMs(s.longestProduceMs)) ms (late wake-ups: a busy machine; long produce calls: a busy machine or a full producer queue)"
            lines.append(
                "Pacing: the simulator could not keep up (worst second \(String(format: "%.1f", s.worstSecondDeviation * 100))% off, "
                    + "largest backlog \(number(Double(s.maxBacklog))) events): \(cause)")
        }
        if let outcomes = s.outcomes {
            lines.append("Outcomes: \(outcomes.sent) sent (\(outcomes.installed) installs)"
                + (outcomes.failed > 0 ? ", \(outcomes.failed) failed" : ""))
        }
        if s.counts.deliveryFailures > 0 {
            lines.append("Delivery failures: \(s.counts.deliveryFailures)" + (s.firstDeliveryError.map { " (first: \($0))" } ?? ""))
        }
        if s.counts.untrackedSent > 0 {
            lines.append("Events without an id (sent, not matched): \(number(Double(s.counts.untrackedSent)))")
        }
        if s.measured {
            let tracked = s.counts.sent - s.counts.untrackedSent - s.counts.deliveryFailures
            lines.append(
                "Predictions: \(number(Double(s.counts.predicted))) of \(number(Double(tracked)))  missing \(number(Double(s.missing)))  "
                    + "duplicates \(number(Double(s.counts.duplicates)))  dead letters \(number(Double(s.counts.deadLettered + s.counts.untrackedDeadLetters)))"
                    + (s.counts.foreign > 0 ? "  ignored (other runs) \(number(Double(s.counts.foreign)))" : ""))
            if !s.missingIDs.isEmpty {
                lines.append("Missing ids (first \(s.missingIDs.count)): " + s.missingIDs.joined(separator: ", "))
            }
            let l = s.latency
            if l.count > 0 {
                lines.append("Latency (ms)    p50      p90      p99    p99.9      max   (\(number(Double(l.count))) predictions)")
                lines.append(
                    "             " + [l.p50Ms, l.p90Ms, l.p99Ms, l.p999Ms, l.maxMs].map { pad(formatMs($0), 9) }.joined())
            } else {
                lines.append("Latency: no prediction arrived")
            }
            lines += s.notes.map { "Note: \($0)" }
        }
        if let steps = s.rampSteps {
            lines.append("Capacity search (target/s, achieved/s, p99 ms, lag growth, verdict):")
            for step in steps {
                lines.append(
                    "  \(pad(number(step.targetRate), 9))  \(pad(number(step.achievedRate), 9))  \(pad(formatMs(step.latency.p99Ms), 7))"
                        + "  \(pad(String(step.pendingGrowth), 8))  \(step.verdict)")
            }
            lines.append(
                s.capacityRate.map { "Capacity: \(number($0))/s sustainable. \(s.rampOutcome ?? "")" }
                    ?? "Capacity: no step was sustainable. \(s.rampOutcome ?? "")")
        }
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line (`{"type": ..., ...}`), for NDJSON output.
    public static func jsonLine(type: String, _ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value),
            var object = String(data: data, encoding: .utf8), object.hasPrefix("{")
        else { return "{\"type\":\"\(type)\"}" }
        object.removeFirst()
        return "{\"type\":\"\(type)\"" + (object == "}" ? "}" : "," + object)
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
