import Foundation
import LoadSimulator
import Monitor
import Scoring
import ServiceLifecycle
import Synchronization

/// What a finished demo run measured: the simulator's summary and how long sending lasted.
struct DemoOutcome: Sendable {
    var summary: LoadTestSummary
    /// Wall-clock seconds from the scorer being ready to the end of the drain.
    var seconds: Double
}

/// The demo's load-test side as a `Service` next to the `ScoringService` in one `ServiceGroup`:
/// waits until the scorer consumes, runs the simulator, prints the live status line every second
/// and keeps the outcome for the summary. When it returns, the group shuts the scorer down
/// gracefully (drain, commit, leave the group); on SIGINT/SIGTERM it stops sending early and still
/// collects the answers in flight.
final class DemoDriver: Service, Sendable {
    private let service: ScoringService
    private let loadTest: LoadTest
    private let status: StatusLine
    private let readyTimeoutSeconds: Double
    private let result = Mutex<DemoOutcome?>(nil)
    /// With `--outcomes`: the monitor joining predictions with outcomes, reported every 5 s.
    private let monitor: MonitorRunner?

    init(service: ScoringService, loadTest: LoadTest, status: StatusLine, monitor: MonitorRunner? = nil,
         readyTimeoutSeconds: Double = 60) {
        self.monitor = monitor
        self.service = service
        self.loadTest = loadTest
        self.status = status
        self.readyTimeoutSeconds = readyTimeoutSeconds
    }

    /// The outcome, once `run()` has finished.
    var outcome: DemoOutcome? { result.withLock { $0 } }

    func run() async throws {
        // The scorer first checks brokers and topics, joins its group and gets partitions; events
        // sent before that would measure the group join, not the scorer. Readiness alone is not
        // enough: a member is ready as soon as it has joined, partitions or not, and the embedded
        // cluster keeps only ~5 MB per partition (about 2.5 s at 5,000/s), so events sent during a
        // slow join could fall off the log before the scorer reads them.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(readyTimeoutSeconds)
        while !(service.isReady && service.stats().assignedPartitions > 0) {
            if clock.now > deadline {
                throw CommandFailure("the scorer did not start consuming within \(Int(readyTimeoutSeconds)) s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }

        // The monitor joins its group only now: joining both groups at once on the development
        // cluster held the scorer's first assignment for the whole run.
        monitor?.start()
        let started = clock.now
        let loadTest = self.loadTest
        let status = self.status
        let service = self.service
        let monitor = self.monitor
        let summary = try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                var meter = DemoRateMeter(stats: service.stats())
                var seconds = 0
                return try await loadTest.run { sample in
                    let stats = service.stats()
                    let rates = meter.update(stats)
                    seconds += 1
                    if let snapshot = monitor?.snapshot, seconds % 5 == 0 {
                        status.print(DemoText.monitorLine(snapshot, second: seconds))
                    }
                    status.show(DemoText.statusLine(sample: sample, scorer: stats, scorerRates: rates))
                }
            } onGracefulShutdown: {
                loadTest.stop()
            }
        } onCancel: {
            loadTest.stop()
        }
        status.finish()
        let elapsed = clock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        result.withLock { $0 = DemoOutcome(summary: summary, seconds: seconds) }
    }
}

/// The scorer's input and output rates between two snapshots of its counters.
struct DemoRateMeter {
    private var lastIn: Int
    private var lastOut: Int
    private var lastTime: ContinuousClock.Instant

    init(stats: ScoringStats) {
        lastIn = stats.eventsIn
        lastOut = stats.eventsOut
        lastTime = .now
    }

    /// Events per second in and out since the previous call.
    mutating func update(_ stats: ScoringStats) -> (inPerSecond: Double, outPerSecond: Double) {
        let now = ContinuousClock.now
        let elapsed = now - lastTime
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-3)
        let rates = (Double(stats.eventsIn - lastIn) / seconds, Double(stats.eventsOut - lastOut) / seconds)
        lastIn = stats.eventsIn
        lastOut = stats.eventsOut
        lastTime = now
        return rates
    }
}
