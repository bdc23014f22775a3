import Foundation
import Kafka

/// A second thread that featurizes and scores one micro-batch while the scoring thread produces
/// the outputs of the previous one and gathers the next.
///
/// Why a second thread: under a backlog the scoring thread is the service's bottleneck, and
/// overlapping featurize + score with produce + gather raises the drain rate (BENCHMARKS.md,
/// "Service vs Python baseline"). Small batches (the latency path) are scored inline by
/// ``BatchScorer``: a hand-over would only add a thread wake-up.
///
/// One job at a time: `submit` hands a batch and a ``BatchRuntime`` over, `wait` takes them back.
///
/// `@unchecked Sendable` is safe: `job`, `result`, `busy` and `stopped` are only read or written
/// with `condition` locked. The runtime and batches of a job are used by exactly one thread at a
/// time: the submitter does not touch them between `submit` and the `wait` that returns them, and
/// the condition's lock orders the worker's writes before the submitter's reads.
final class ScoringWorker: @unchecked Sendable {
    /// A micro-batch handed to the worker with the runtime it is scored with; the worker fills
    /// in the scoring time.
    typealias Job = ScoredBatch

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
            current.runtime.score(current.batch.batches)
            current.scoringNanoseconds = Int64(DispatchTime.now().uptimeNanoseconds - start)

            condition.withLock {
                result = current
                busy = false
                condition.broadcast()
            }
        }
    }
}
