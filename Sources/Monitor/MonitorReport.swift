import Foundation

/// A self-contained HTML report of a monitor run: a reliability diagram per model (its decile
/// table, mean p against observed rate, on log axes) and its metrics over time, as inline SVG.
public struct MonitorReport {
    /// The metrics over time (each model's shortest window), oldest first.
    public var history: [MetricPoint]
    /// The last snapshot: the reliability diagram and the table.
    public var last: MonitorSnapshot?
    public var subtitle: String

    public init(history: [MetricPoint], last: MonitorSnapshot?, subtitle: String) {
        self.history = history
        self.last = last
        self.subtitle = subtitle
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    /// The report's HTML.
    public func html() -> String {
        guard let last else { return page(body: "<p>No snapshot was taken.</p>") }
        var body = ""
        let keys = last.models.map(\.key)
        let windowIndex = max(0, (last.models.first?.windows.count ?? 1) - 1)
        let windowLabel = last.models.first.map { $0.windows[windowIndex].label } ?? ""

        body += "<h2>Reliability (\(windowLabel) window, deciles of p)</h2>\n"
        body += reliabilityDiagram(last, windowIndex: windowIndex)
        body += "<h2>Metrics at the end</h2>\n<table><tr><th>model</th><th>variant</th><th>window</th><th>labelled</th>"
            + "<th>mean p</th><th>rate</th><th>calibration</th><th>log loss</th><th>Brier</th><th>AUC</th></tr>\n"
        for model in last.models {
            for window in model.windows {
                let s = window.stats
                body += "<tr><td>\(escape(model.key.model))</td><td>\(escape(model.key.variant))</td><td>\(window.label)</td>"
                    + "<td>\(s.count)</td><td>\(MonitorText.fixed(s.meanP, 4))</td><td>\(MonitorText.fixed(s.observedRate, 4))</td>"
                    + "<td>\(MonitorText.fixed(s.calibrationRatio, 2))</td><td>\(MonitorText.fixed(s.logLoss, 4))</td>"
                    + "<td>\(MonitorText.fixed(s.brier, 4))</td><td>\(MonitorText.fixed(s.auc, 3))</td></tr>\n"
            }
        }
        body += "</table>\n"
        let first = last.models.first?.windows.first?.label ?? ""
        for (title, metric, logScale) in [
            ("Calibration ratio (mean p / rate), \(first) window", { (point: MetricPoint) in point.calibrationRatio }, true),
            ("AUC, \(first) window", { (point: MetricPoint) in point.auc }, false),
            ("Log loss, \(first) window", { (point: MetricPoint) in point.logLoss }, false),
        ] as [(String, (MetricPoint) -> Double, Bool)] {
            body += "<h2>\(escape(title))</h2>\n" + timeChart(keys: keys, metric: metric, logScale: logScale)
        }
        let c = last.counters
        body += "<p>Joined \(c.joined), expired as negatives \(c.expiredNegatives), duplicate predictions \(c.duplicatePredictions), "
            + "unmatched outcomes \(c.unmatchedOutcomes), evicted \(c.evictedPredictions + c.evictedOutcomes + c.evictedResolved), "
            + "malformed \(c.malformedPredictions + c.malformedOutcomes).</p>\n"
        return page(body: body)
    }

    /// Writes the report to `path`.
    public func write(to path: String) throws {
        try Data(html().utf8).write(to: URL(fileURLWithPath: path))
    }

    // MARK: - Charts

    private func legend(_ keys: [ModelKey]) -> String {
        keys.enumerated().map { index, key in
            "<span style=\"color:\(Self.colors[index % Self.colors.count])\">&#9632; \(escape(key.description))</span>"
        }.joined(separator: " &nbsp; ")
    }

    private func reliabilityDiagram(_ snapshot: MonitorSnapshot, windowIndex: Int) -> String {
        let size = 420.0, margin = 50.0
        let low = -4.0, high = 0.0  // log10 axes: 0.0001 ... 1
        func x(_ p: Double) -> Double { margin + (log10(max(p, 1e-4)) - low) / (high - low) * size }
        func y(_ r: Double) -> Double { margin + size - (log10(max(r, 1e-4)) - low) / (high - low) * size }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(size + 2 * margin))\" height=\"\(Int(size + 2 * margin))\">\n"
        svg += "<rect x=\"\(margin)\" y=\"\(margin)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#999\"/>\n"
        for exponent in Int(low)...Int(high) {
            let value = pow(10.0, Double(exponent))
            svg += "<line x1=\"\(x(value))\" y1=\"\(margin)\" x2=\"\(x(value))\" y2=\"\(margin + size)\" stroke=\"#eee\"/>"
            svg += "<line x1=\"\(margin)\" y1=\"\(y(value))\" x2=\"\(margin + size)\" y2=\"\(y(value))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(x(value))\" y=\"\(margin + size + 16)\" font-size=\"11\" text-anchor=\"middle\">\(value)</text>"
            svg += "<text x=\"\(margin - 6)\" y=\"\(y(value) + 4)\" font-size=\"11\" text-anchor=\"end\">\(value)</text>\n"
        }
        svg += "<line x1=\"\(x(1e-4))\" y1=\"\(y(1e-4))\" x2=\"\(x(1))\" y2=\"\(y(1))\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n"
        svg += "<text x=\"\(margin + size / 2)\" y=\"\(margin + size + 36)\" font-size=\"12\" text-anchor=\"middle\">mean predicted p</text>"
        svg += "<text x=\"14\" y=\"\(margin + size / 2)\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(margin + size / 2))\">observed install rate</text>\n"
        for (index, model) in snapshot.models.enumerated() where model.windows.indices.contains(windowIndex) {
            let color = Self.colors[index % Self.colors.count]
            let points = model.windows[windowIndex].stats.deciles.filter { $0.count > 0 }
            let path = points.map { "\(x($0.meanP)),\(y($0.observedRate))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for point in points {
                svg += "<circle cx=\"\(x(point.meanP))\" cy=\"\(y(point.observedRate))\" r=\"3.5\" fill=\"\(color)\"><title>"
                    + "\(escape(model.key.description)): \(point.count) predictions, mean p \(MonitorText.fixed(point.meanP, 4)), "
                    + "rate \(MonitorText.fixed(point.observedRate, 4))</title></circle>\n"
            }
        }
        svg += "</svg>\n"
        return "<p>\(legend(snapshot.models.map(\.key))) &nbsp; (dashed: perfect calibration; a rate of 0 is drawn at 0.0001)</p>\n" + svg
    }

    private func timeChart(keys: [ModelKey], metric: (MetricPoint) -> Double, logScale: Bool) -> String {
        let width = 720.0, height = 220.0, margin = 50.0
        guard let start = history.first?.timeMs, let end = history.last?.timeMs, end > start else { return "<p>One sample only.</p>\n" }
        var series: [ModelKey: [(Double, Double)]] = [:]
        for point in history {
            let value = metric(point)
            guard value.isFinite, !logScale || value > 0 else { continue }
            series[point.key, default: []].append((Double(point.timeMs - start) / 1000, logScale ? log10(value) : value))
        }
        let values = series.values.flatMap { $0.map(\.1) }
        guard var low = values.min(), var high = values.max() else { return "<p>No values yet.</p>\n" }
        if logScale { low = min(low, -0.1); high = max(high, 0.1) }  // keep the ratio 1 line in view
        if high - low < 1e-9 { low -= 0.5; high += 0.5 }
        let seconds = Double(end - start) / 1000
        func x(_ t: Double) -> Double { margin + t / seconds * width }
        func y(_ v: Double) -> Double { margin + height - (v - low) / (high - low) * height }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width + 2 * margin))\" height=\"\(Int(height + 2 * margin))\">\n"
        svg += "<rect x=\"\(margin)\" y=\"\(margin)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#999\"/>\n"
        for step in 0...4 {
            let v = low + (high - low) * Double(step) / 4
            let label = logScale ? String(format: "%.3g", pow(10, v)) : String(format: "%.3g", v)
            svg += "<text x=\"\(margin - 6)\" y=\"\(y(v) + 4)\" font-size=\"11\" text-anchor=\"end\">\(label)</text>"
            svg += "<line x1=\"\(margin)\" y1=\"\(y(v))\" x2=\"\(margin + width)\" y2=\"\(y(v))\" stroke=\"#eee\"/>\n"
        }
        if logScale {
            svg += "<line x1=\"\(margin)\" y1=\"\(y(0))\" x2=\"\(margin + width)\" y2=\"\(y(0))\" stroke=\"#555\" stroke-dasharray=\"4 3\"/>\n"
        }
        svg += "<text x=\"\(margin + width)\" y=\"\(margin + height + 16)\" font-size=\"11\" text-anchor=\"end\">\(Int(seconds)) s</text>"
        svg += "<text x=\"\(margin)\" y=\"\(margin + height + 16)\" font-size=\"11\">0 s</text>\n"
        for (index, key) in keys.enumerated() {
            guard let points = series[key], !points.isEmpty else { continue }
            let path = points.map { "\(x($0.0)),\(y($0.1))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(Self.colors[index % Self.colors.count])\" stroke-width=\"2\"/>\n"
        }
        svg += "</svg>\n"
        return "<p>\(legend(keys))</p>\n" + svg
    }

    private func page(body: String) -> String {
        """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>scorer monitor report</title>
        <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}\
        td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,td:nth-child(2){text-align:left}</style>
        </head><body>
        <h1>scorer monitor report</h1>
        <p>\(escape(subtitle))</p>
        \(body)
        </body></html>

        """
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// One model's metrics over its shortest window at one moment: what the report charts over time.
public struct MetricPoint: Sendable, Hashable {
    public var timeMs: Int64
    public var key: ModelKey
    public var count: Int
    public var calibrationRatio: Double
    public var auc: Double
    public var logLoss: Double

    /// One point per model of `snapshot`.
    public static func points(of snapshot: MonitorSnapshot) -> [MetricPoint] {
        snapshot.models.compactMap { model in
            guard let stats = model.windows.first?.stats else { return nil }
            return MetricPoint(timeMs: snapshot.timeMs, key: model.key, count: stats.count,
                               calibrationRatio: stats.calibrationRatio, auc: stats.auc, logLoss: stats.logLoss)
        }
    }
}
