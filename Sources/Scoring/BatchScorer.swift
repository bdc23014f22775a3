import Dispatch
import Foundation
import Logging

/// The scoring stage: featurizes and scores micro-batches with the serving models, and takes
/// model swaps between batches.
///
/// Large batches go to a ``ScoringWorker`` thread while the pipeline's thread produces the
/// previous batch and gathers the next; small ones (the latency path) are scored inline, after the
/// worker's batch is handed on, so outputs always leave in input order. Two runtimes alternate:
/// one with the worker, one for the next batch.
///
/// Confined to the pipeline's thread (the worker only touches the job it was handed).
final class BatchScorer {
    /// Batches at least this large go to the worker.
    static let workerMinimumBatch = 128

    private(set) var models: ServingModels
    private let slots: ModelSlots
    private let maxBatch: Int
    private let explainTop: Int
    private let metrics: ScoringMetrics
    private let logger: Logger
    /// The runtime for the next batch (scored inline or handed to the worker).
    private var runtime: BatchRuntime
    /// The other runtime. A job on the worker holds its own reference (normally to this one;
    /// after a model swap, to a runtime of the old models, so it is produced as it was scored).
    private var spareRuntime: BatchRuntime
    private let worker = ScoringWorker(name: "scoring-worker")
    private var outstanding = false

    init(models: ServingModels, slots: ModelSlots, maxBatch: Int, explainTop: Int = 0, metrics: ScoringMetrics, logger: Logger) {
        self.models = models
        self.slots = slots
        self.maxBatch = maxBatch
        self.explainTop = explainTop
        self.metrics = metrics
        self.logger = logger
        runtime = BatchRuntime(models: models, maxBatch: maxBatch, explainTop: explainTop)
        spareRuntime = BatchRuntime(models: models, maxBatch: maxBatch, explainTop: explainTop)
    }

    deinit { worker.stop() }

    /// Whether the worker holds a batch whose outputs are not produced yet.
    var hasOutstanding: Bool { outstanding }

    /// Scores `batch` and hands every scored batch to `emit`, in input order: a large batch goes
    /// to the worker and the worker's previous batch (if any) is emitted meanwhile; a small one
    /// (or any, with `inline`) is scored here, after the worker's batch is emitted.
    func score(_ batch: MicroBatch, inline: Bool = false, emit: (ScoredBatch) throws -> Void) throws {
        guard !batch.isEmpty else { return }
        if !inline && batch.count >= Self.workerMinimumBatch {
            let previous = outstanding ? worker.wait() : nil
            worker.submit(ScoredBatch(batch: batch, runtime: runtime))
            outstanding = true
            swap(&runtime, &spareRuntime)  // the job's runtime is now `spareRuntime`
            if let previous { try emit(previous) }
            return
        }
        try finishOutstanding(emit: emit)
        let start = DispatchTime.now().uptimeNanoseconds
        runtime.score(batch.batches)
        try emit(ScoredBatch(batch: batch, runtime: runtime, scoringNanoseconds: Int64(DispatchTime.now().uptimeNanoseconds - start)))
    }

    /// Waits for the worker's batch, if any, and emits it.
    func finishOutstanding(emit: (ScoredBatch) throws -> Void) throws {
        guard outstanding else { return }
        outstanding = false
        if let job = worker.wait() { try emit(job) }
    }

    /// Waits for the worker's batch and drops it (after a failure: its events were never
    /// produced, so they stay uncommitted and are scored again later).
    func discardOutstanding() {
        guard outstanding else { return }
        outstanding = false
        _ = worker.wait()
    }

    /// Lets the worker thread end.
    func stop() { worker.stop() }

    // MARK: - Model swaps

    /// Takes the models the reloader offered since the last batch, if any. A batch still on the
    /// worker keeps its own (old) runtime; later batches use the new models.
    func swapModelsIfOffered() {
        var next = models
        var changed: [String] = []
        for role in ModelRole.allCases {
            guard let model = slots[role].takePending() else { continue }
            let previous = next[role]?.label ?? "none"
            switch role {
            case .primary: next.primary = model
            case .shadow: next.shadow = model
            case .canary: next.canary = model
            }
            changed.append("\(role.rawValue): \(previous) -> \(model.label)")
            metrics.recordModel(model, role: role)
        }
        guard !changed.isEmpty else { return }
        models = next
        runtime = BatchRuntime(models: next, maxBatch: maxBatch, explainTop: explainTop)
        spareRuntime = BatchRuntime(models: next, maxBatch: maxBatch, explainTop: explainTop)
        logger.info("models swapped", metadata: ["changes": "\(changed.joined(separator: ", "))"])
    }
}
