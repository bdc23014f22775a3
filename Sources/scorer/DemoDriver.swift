import Foundation
import LoadSimulator
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

    init(service: ScoringService, loadTest: LoadTest, status: StatusLine, readyTimeoutSeconds: Double = 60) {
        self.service = service
        self.loadTest = loadTest
        self.status = status
        self.readyTimeoutSeconds = readyTimeoutSeconds
    }

    /// The outcome, once `run()` has finished.
    var outcome: DemoOutcome? { result.withLock { $0 } }

    func run() async throws {
        // The scorer first checks brokers and topics, joins its group and gets partitions; events
        // sent before that would measure the group join, not the scorer.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(readyTimeoutSeconds)
        while !service.isReady {
            if clock.now > deadline {
                throw CommandFailure("the scorer did not start consuming within \(Int(readyTimeoutSeconds)) s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }

        let started = clock.now
        let loadTest = self.loadTest
        let status = self.status
        let service = self.service
        let summary = try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                var meter = DemoRateMeter(stats: service.stats())
                return try await loadTest.run { sample in
                    let stats = service.stats()
                    let rates = meter.update(stats)
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
