import Foundation
import Testing
@testable import Monitor

@Suite struct MetricsTests {
    /// Joins 40,000 predictions of two models with their outcomes and compares every metric with the
    /// offline computation over the same joined set.
    @Test func metricsEqualTheOfflineComputation() throws {
        let samples = makeSamples(40_000, seed: 16)
        let monitor = OutcomeMonitor(settings: MonitorSettings(joinWindowMs: 60_000, windowsMs: [300_000, 3_600_000]))
        let start: Int64 = 1_700_000_000_000
        for (index, sample) in samples.enumerated() {
            let time = start + Int64(index) * 5  // 40,000 over 200 s
            monitor.prediction(sample, partition: index % 4, atMs: time)
            // A tenth of the negatives get no outcome: they must expire as negatives.
            if sample.installed || index % 10 != 3 {
                monitor.outcome(id: sample.id, installed: sample.installed, partition: index % 4, atMs: time + 2000)
            }
        }
        let end = start + 200_000 + 60_000
        monitor.advance(toMs: end)
        #expect(monitor.pendingCount == 0)
        #expect(monitor.counters.expiredNegatives == samples.enumerated().filter { !$0.element.installed && $0.offset % 10 == 3 }.count)
        #expect(monitor.counters.joined + monitor.counters.expiredNegatives == samples.count)
        let snapshot = monitor.snapshot(nowMs: end)
        #expect(snapshot.models.count == 2)
        for model in snapshot.models {
            let pairs = samples.filter { $0.model == model.key.model }.map { (p: publishedP($0.p), installed: $0.installed) }
            let offline = OfflineMetrics(pairs)
            for window in model.windows {
                let stats = window.stats
                #expect(stats.count == offline.count)
                #expect(stats.positives == offline.positives)
                #expect(abs(stats.meanP - offline.meanP) <= 1e-9)
                #expect(abs(stats.observedRate - offline.rate) <= 1e-9)
                #expect(abs(stats.calibrationRatio - offline.meanP / offline.rate) <= 1e-9)
                #expect(abs(stats.logLoss - offline.logLoss) <= 1e-9)
                #expect(abs(stats.brier - offline.brier) <= 1e-9)
                #expect(abs(stats.auc - offline.auc) <= 0.005, "\(model.key): AUC \(stats.auc) vs exact \(offline.auc)")
                // The reliability table covers every prediction once, in increasing p.
                let deciles = stats.deciles
                #expect(deciles.reduce(0) { $0 + $1.count } == offline.count)
                let means = deciles.filter { $0.count > 0 }.map(\.meanP)
                #expect(means == means.sorted())
            }
            #expect(model.lifetime.count == offline.count)
        }
        // The biased canary is caught: its calibration ratio is far above 1, the primary's near 1.
        let canary = try #require(snapshot.models.first { $0.key.variant == "canary" })
        let primary = try #require(snapshot.models.first { $0.key.variant == "primary" })
        #expect(canary.windows[0].stats.calibrationRatio > 4)
        #expect(abs(primary.windows[0].stats.calibrationRatio - 1) < 0.15)
    }

    @Test func theWindowSlidesLabelsOutAfterItsLength() {
        var window = SlidingWindow(lengthMs: 60_000)
        window.add(p: 0.5, installed: true, atMs: 0)
        window.add(p: 0.5, installed: false, atMs: 30_000)
        #expect(window.stats(nowMs: 59_999).count == 2)
        #expect(window.stats(nowMs: 60_000).count == 1)
        #expect(window.stats(nowMs: 90_000).count == 0)
        // A label older than the window does not come back in.
        window.add(p: 0.5, installed: true, atMs: 1_000)
        #expect(window.stats(nowMs: 90_000).count == 0)
    }

    @Test func aucFromHistogramsMatchesExactOnTies() {
        var stats = CalibrationStats()
        let pairs: [(Double, Bool)] = [(0.1, false), (0.1, true), (0.2, false), (0.3, true), (0.3, true), (0.05, false)]
        for (p, y) in pairs { stats.add(p: p, installed: y) }
        #expect(abs(stats.auc - OfflineMetrics(pairs.map { (p: $0.0, installed: $0.1) }).auc) < 1e-12)
    }
}
