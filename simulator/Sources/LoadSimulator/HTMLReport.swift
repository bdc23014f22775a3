import Foundation

/// A self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched) describing a load
/// test: the summary, the latency table, and charts of send rate, prediction rate and latency per
/// second, plus the ramp steps of a capacity search.
public struct HTMLReport: Sendable {
    public var summary: LoadTestSummary
    public var samples: [SecondSample]
    /// Free text shown under the title (the command line, the brokers...).
    public var subtitle: String

    public init(summary: LoadTestSummary, samples: [SecondSample], subtitle: String = "") {
        self.summary = summary
        self.samples = samples
        self.subtitle = subtitle
    }

    /// Writes the page to `path`.
    ///
    /// - Throws: `LoadSimulatorError.output` naming the path when it cannot be written.
    public func write(to path: String) throws(LoadSimulatorError) {
        do {
            try Data(render().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .output("cannot write the report to \(path): \(error.localizedDescription)")
        }
    }

    /// The page's HTML.
    public func render() -> String {
        let s = summary
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Load test: \(escape(s.topic)) at \(Int(s.targetRate))/s</title>
            <style>
            body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:900px;color:#222}
            h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
            .sub{color:#666;margin-top:0} table{border-collapse:collapse;margin:8px 0}
            td,th{padding:3px 12px;border-bottom:1px solid #e4e4e4;text-align:right} th{background:#f6f6f6}
            td:first-child,th:first-child{text-align:left} .bad{color:#b00020;font-weight:600} .good{color:#1b7a2f;font-weight:600}
            svg{background:#fcfcfc;border:1px solid #e4e4e4} .axis{stroke:#999} .grid{stroke:#eee}
            svg text{font-size:11px;fill:#555}
            </style></head><body>
            <h1>Load test: \(escape(s.topic)) at \(number(s.targetRate))/s</h1>
            <p class="sub">\(escape(subtitle))</p>

            """
        html += "<h2>Summary</h2><table>\n"
        html += row("Events sent", number(Double(s.counts.sent)))
        html += row("Send time", String(format: "%.1f s", s.sendSeconds))
        html += row("Achieved send rate", number(s.achievedRate) + "/s")
        html += row(
            "Pacing", s.keptUp
                ? "<span class=\"good\">every second within 1% of the target</span>"
                : "<span class=\"bad\">fell behind (worst second \(String(format: "%.1f", s.worstSecondDeviation * 100))% off; "
                    + "send thread woke up to \(formatMs(s.longestWakeDelayMs)) ms late, longest produce call \(formatMs(s.longestProduceMs)) ms)</span>",
            raw: true)
        if s.measured {
            html += row("Predictions", number(Double(s.counts.predicted)))
            html += row(
                "Missing (no prediction, no dead letter)",
                s.missing == 0 ? "<span class=\"good\">0</span>" : "<span class=\"bad\">\(s.missing)</span>", raw: true)
            html += row("Duplicates", number(Double(s.counts.duplicates)))
            html += row("Dead letters", number(Double(s.counts.deadLettered + s.counts.untrackedDeadLetters)))
        }
        if s.counts.deliveryFailures > 0 { html += row("Delivery failures", number(Double(s.counts.deliveryFailures))) }
        html += "</table>\n"
        if s.measured {
            let l = s.latency
            html += "<h2>End-to-end latency (ms)</h2><table><tr><th>predictions</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n"
            html += "<tr><td>\(number(Double(l.count)))</td><td>\(formatMs(l.p50Ms))</td><td>\(formatMs(l.p90Ms))</td>"
            html += "<td>\(formatMs(l.p99Ms))</td><td>\(formatMs(l.p999Ms))</td><td>\(formatMs(l.maxMs))</td></tr></table>\n"
        }
        if !s.missingIDs.isEmpty {
            html += "<p>First missing ids: " + s.missingIDs.map { "<code>\(escape($0))</code>" }.joined(separator: ", ") + "</p>\n"
        }
        if let steps = s.rampSteps {
            html += "<h2>Capacity search</h2><p>"
            html += s.capacityRate.map { "Highest sustainable rate: <b>\(number($0))/s</b>. " } ?? "No step was sustainable. "
            html += escape(s.rampOutcome ?? "") + "</p>\n"
            html += "<table><tr><th>target/s</th><th>achieved/s</th><th>p50 ms</th><th>p99 ms</th><th>lag growth</th><th>verdict</th></tr>\n"
            for step in steps {
                html += "<tr><td>\(number(step.targetRate))</td><td>\(number(step.achievedRate))</td>"
                html += "<td>\(formatMs(step.latency.p50Ms))</td><td>\(formatMs(step.latency.p99Ms))</td><td>\(step.pendingGrowth)</td>"
                html += "<td class=\"\(step.sustainable ? "good" : "bad")\">\(escape(step.verdict))</td></tr>\n"
            }
            html += "</table>\n"
        }
        let x = samples.map { Double($0.second) }
        html += "<h2>Send and prediction rate (events/s)</h2>\n"
        html += chart(x: x, series: [
            ("target", "#999999", samples.map { $0.draining ? nil : $0.targetRate }),
            ("sent", "#1f77b4", samples.map { Double($0.sent) }),
            ("predicted", "#2ca02c", s.measured ? samples.map { Double($0.predicted) } : []),
        ])
        if s.measured {
            html += "<h2>Latency per second (ms)</h2>\n"
            html += chart(x: x, series: [
                ("p50", "#1f77b4", samples.map { $0.latency.count > 0 ? $0.latency.p50Ms : nil }),
                ("p99", "#ff7f0e", samples.map { $0.latency.count > 0 ? $0.latency.p99Ms : nil }),
                ("max", "#d62728", samples.map { $0.latency.count > 0 ? $0.latency.maxMs : nil }),
            ])
            html += "<h2>Events awaiting an answer</h2>\n"
            html += chart(x: x, series: [("pending", "#9467bd", samples.map { Double($0.total.pending) })])
        }
        html += "</body></html>\n"
        return html
    }

    // MARK: - Pieces

    private func row(_ name: String, _ value: String, raw: Bool = false) -> String {
        "<tr><td>\(escape(name))</td><td>\(raw ? value : escape(value))</td></tr>\n"
    }

    /// A line chart: x in seconds, one polyline per series (nil values break the line).
    private func chart(x: [Double], series: [(name: String, color: String, values: [Double?])]) -> String {
        let width = 860.0, height = 240.0, left = 60.0, right = 16.0, top = 14.0, bottom = 30.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maxX = max(x.last ?? 1, 1)
        let maxValue = series.flatMap { $0.values.compactMap { $0 } }.max() ?? 1
        let yTop = niceCeiling(max(maxValue * 1.1, 1e-9))
        func px(_ value: Double) -> Double { left + value / maxX * plotWidth }
        func py(_ value: Double) -> Double { top + plotHeight - min(value, yTop) / yTop * plotHeight }
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">\n"
        for tick in 0...4 {
            let value = yTop * Double(tick) / 4
            let y = py(value)
            svg += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - right))\" y2=\"\(f(y))\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(axisLabel(value))</text>\n"
        }
        let xStep = niceCeiling(maxX / 8)
        var tickX = 0.0
        while tickX <= maxX + 1e-9 {
            svg += "<text x=\"\(f(px(tickX)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(Int(tickX))s</text>"
            tickX += xStep
        }
        svg += "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(width - right))\" y2=\"\(f(top + plotHeight))\"/>\n"
        var legendX = left + 8
        for entry in series where !entry.values.isEmpty {
            var path = ""
            var penDown = false
            for (index, value) in entry.values.enumerated() where index < x.count {
                guard let value else { penDown = false; continue }
                path += "\(penDown ? "L" : "M")\(f(px(x[index]))),\(f(py(value))) "
                penDown = true
            }
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(entry.color)\" stroke-width=\"1.6\"/>\n"
            svg += "<rect x=\"\(f(legendX))\" y=\"\(f(top + 2))\" width=\"10\" height=\"10\" fill=\"\(entry.color)\"/>"
            svg += "<text x=\"\(f(legendX + 14))\" y=\"\(f(top + 11))\">\(escape(entry.name))</text>\n"
            legendX += 24 + Double(entry.name.count) * 7
        }
        svg += "</svg>\n"
        return svg
    }

    private func niceCeiling(_ value: Double) -> Double {
        let magnitude = pow(10, floor(log10(value)))
        for factor in [1.0, 2.0, 2.5, 5.0, 10.0] where factor * magnitude >= value { return factor * magnitude }
        return 10 * magnitude
    }

    private func axisLabel(_ value: Double) -> String {
        if value >= 1000 { return number(value) }
        if value == value.rounded() { return String(Int(value)) }
        return String(format: "%.2g", value)
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }
}

func escape(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "&": result += "&amp;"
        case "\"": result += "&quot;"
        default: result.append(character)
        }
    }
    return result
}

/// A count or rate with thousands separators and no fraction: `12,345`.
func number(_ value: Double) -> String {
    let rounded = Int(value.rounded())
    let digits = String(abs(rounded))
    var grouped = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
        grouped.append(digit)
    }
    return rounded < 0 ? "-" + grouped : grouped
}
