import Foundation
import Kafka

/// A second thread that featurizes and scores one micro-batch while the scoring thread produces
/// the outputs of the previous one and gathers the next.
///
/// Why a second thread: under a backlog the scoring thread was the service's bottleneck (one core;
/// featurize + score ~45% of its time, polling, encoding and producing the rest). Overlapping the
/// two halves raised the drain of a 500k backlog from a median of 310k to 350k events/s (+13%;
/// the same drain, old and new binaries interleaved over 4 rounds on the 2-core machine; see
/// BENCHMARKS.md, "Service vs Python baseline"). Small batches (the latency path, where a batch
/// is what one fetch brought) are scored inline: a hand-over would only add a thread wake-up.
///
/// One job at a time: `submit` hands a batch and a ``ModelRuntime`` over, `wait` takes them back.
///
/// `@unchecked Sendable` is safe: `job`, `result`, `busy` and `stopped` are only read or written
/// with `condition` locked. The runtime and batches of a job are used by exactly one thread at a
/// time: the submitter does not touch them between `submit` and the `wait` that returns them, and
/// the condition's lock orders the worker's writes before the submitter's reads.
final class ScoringWorker: @unchecked Sendable {
    /// A micro-batch handed to the worker, and the runtime it is scored with.
    struct Job {
        var batches: [KafkaMessageBatch]
        var count: Int
        var runtime: ModelRuntime
        /// Time spent featurizing and scoring, filled in by the worker.
        var scoringNanoseconds: Int64 = 0
    }

    private let condition = NSCondition()
    private var job: Job?
    private var result: Job?
    private var busy = false
    private var stopped = false

    /// Starts the worker thread.
    init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Hands a job over. Only one job may be outstanding: call `wait` first.
    func submit(_ newJob: Job) {
        condition.withLock {
            precondition(!busy && result == nil, "ScoringWorker: a job is already outstanding")
            job = newJob
            busy = true
            condition.broadcast()
        }
    }

    /// Waits for the outstanding job and returns it scored (nil if there is none).
    func wait() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while busy { condition.wait() }
        defer { result = nil }
        return result
    }

    /// Lets the thread end once its current job (if any) is done.
    func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while job == nil && !stopped { condition.wait() }
            guard var current = job else {
                condition.unlock()
                return
            }
            job = nil
            condition.unlock()

            let start = DispatchTime.now().uptimeNanoseconds
            current.runtime.score(current.batches)
            current.scoringNanoseconds = Int64(DispatchTime.now().uptimeNanoseconds - start)

            condition.withLock {
                result = current
                busy = false
                condition.broadcast()
            }
        }
    }
}
