import Features
import Foundation
import Forest
import Kafka
import ModelBundles

/// Why an event became a dead letter: a metrics label and the one-line `error` header.
struct DeadLetterReason: Sendable {
    /// The label of `scorer_dead_letters_total{reason}` (the featurizer's error code, or
    /// `non_finite_prediction`).
    var code: String
    /// The dead letter's `error` header.
    var description: String

    init(_ error: FeatureError) {
        code = error.code.rawValue
        description = error.description
    }

    init(code: String, description: String) {
        self.code = code
        self.description = description
    }
}

/// One model's working set inside a ``BatchRuntime``: its featurizer (mutable scratch, so one per
/// thread), feature matrix and probabilities, allocated once and reused by every batch.
final class ModelScratch {
    let model: ScoringModel
    let featurizer: Featurizer
    var features: FeatureBatch
    var probabilities: [Float] = []
    /// TreeSHAP contributions of the last batch's rows (`contributionCount` per row), when explaining.
    var contributions: [Float] = []
    /// Time spent evaluating the forest on the last batch (and explaining it, when explaining).
    var evaluationNanoseconds: Int64 = 0
    /// The last batch's rows binned for drift tracking, when the card has a drift reference.
    var drift: DriftBatchCounts?

    init(model: ScoringModel, maxBatch: Int) {
        self.model = model
        featurizer = model.bundle.makeFeaturizer()
        features = FeatureBatch(featureCount: featurizer.featureCount, capacity: maxBatch)
        probabilities = [Float](repeating: 0, count: maxBatch)
        drift = model.bundle.card?.driftReference.map { DriftBatchCounts(label: model.label, reference: $0) }
    }

    /// Bins the rows this model scores (its own matrix, or another of the same spec) for drift tracking.
    func countDrift(_ rows: FeatureBatch) {
        guard drift != nil else { return }
        drift!.reset()
        rows.rows.withUnsafeBufferPointer { drift!.count(rows: $0, rowCount: rows.count, width: rows.featureCount) }
    }

    /// Scores every row of `rows` (this model's own matrix, or another of the same spec).
    func predict(_ rows: FeatureBatch) {
        let count = rows.count
        guard count > 0 else { return }
        if probabilities.count < count { probabilities = [Float](repeating: 0, count: count) }
        let start = DispatchTime.now().uptimeNanoseconds
        rows.rows.withUnsafeBufferPointer { input in
            probabilities.withUnsafeMutableBufferPointer { output in
                // The buffers are sized here, so the evaluator's size check cannot fail.
                try! model.forest.predict(rows: input, count: count, into: UnsafeMutableBufferPointer(rebasing: output[0..<count]))
            }
        }
        evaluationNanoseconds = Int64(DispatchTime.now().uptimeNanoseconds - start)
    }

    /// Computes the TreeSHAP contributions of every row of `rows` (the model can explain: checked
    /// when the service starts and at every reload). On every core: explaining costs far more than
    /// the rest of the pipeline, which otherwise leaves the other scoring thread idle (batches of
    /// fewer than 32 rows stay on this thread).
    func explain(_ rows: FeatureBatch) {
        let count = rows.count
        let width = model.forest.contributionCount
        guard count > 0 else { return }
        if contributions.count < count * width { contributions = [Float](repeating: 0, count: count * width) }
        let start = DispatchTime.now().uptimeNanoseconds
        rows.rows.withUnsafeBufferPointer { input in
            contributions.withUnsafeMutableBufferPointer { output in
                try! model.forest.contributions(
                    rows: input, count: count, into: UnsafeMutableBufferPointer(rebasing: output[0..<count * width]),
                    threads: ProcessInfo.processInfo.activeProcessorCount)
            }
        }
        evaluationNanoseconds += Int64(DispatchTime.now().uptimeNanoseconds - start)
    }
}

/// The scoring stage's working set for one micro-batch: featurize every event once per feature
/// spec, evaluate each serving model (primary, and shadow / canary when configured) over its rows
/// with one vectorised call, and encode the predictions, all into buffers reused by every batch.
///
/// The primary's featurizer decides which events are dead letters. A shadow or canary with the
/// same `features.json` reuses the primary's rows (a canary gets copies of its share); one with a
/// different spec featurizes the events itself, and an event its featurizer refuses keeps the
/// primary's answer (canary) or goes without `p_shadow` (shadow). A published probability that is
/// not finite makes the event a dead letter, so `"p":null` is never published. With explanations
/// on, the primary's TreeSHAP contributions give each prediction the primary answered its
/// `"reasons"` (a canary's answers carry none: they would explain another model's `p`).
final class BatchRuntime {
    let models: ServingModels
    let encoder: PredictionEncoder
    private let split: CanarySplit?
    private let primary: ModelScratch
    private let shadow: ModelScratch?
    private let canary: ModelScratch?
    private let shadowSharesRows: Bool
    private let canarySharesRows: Bool
    /// The primary's reasons writer, when explanations are on.
    private let reasonsEncoder: ReasonsEncoder?
    private var reasonsScratch: [UInt8] = []
    private var rankingScratch: [Int32] = []

    /// Per message of the batch, in order: its primary row (>= 0), or `-(k + 1)` where `reasons[k]`
    /// says why it is a dead letter.
    private(set) var rowOfMessage: [Int32] = []
    private(set) var reasons: [DeadLetterReason] = []
    /// Per primary row: its canary row, or -1 when the primary answers it.
    private var canaryRowOfRow: [Int32] = []
    /// Per primary row (shadow with its own spec only): its shadow row, or -1.
    private var shadowRowOfRow: [Int32] = []
    /// The batch's prediction messages, back to back; per row where its message ends (it starts
    /// where the previous row's ends; a row turned dead letter has an empty message).
    private var predictions: [UInt8] = []
    private var predictionEnds: [Int] = []
    /// When the batch was scored (ms since the epoch): its predictions' `scored_at`.
    private(set) var scoredAt: Int64 = 0
    /// What each model did with this batch, for the per-variant metrics.
    private(set) var variantStats = VariantBatchStats()

    /// - Parameter explainTop: reasons per prediction (0: none); the primary must be able to explain
    ///   (``ScoringModel/explanationProblem``).
    init(models: ServingModels, maxBatch: Int, explainTop: Int = 0) {
        self.models = models
        primary = ModelScratch(model: models.primary, maxBatch: maxBatch)
        shadow = models.shadow.map { ModelScratch(model: $0, maxBatch: maxBatch) }
        canary = models.canary.map { ModelScratch(model: $0, maxBatch: maxBatch) }
        split = models.canary == nil ? nil : CanarySplit(basisPoints: models.canaryBasisPoints)
        shadowSharesRows = models.shadow.map { $0.spec == models.primary.spec } ?? false
        canarySharesRows = models.canary.map { $0.spec == models.primary.spec } ?? false
        encoder = PredictionEncoder(model: models.primary.label, canaryModel: models.canary?.label, shadowModel: models.shadow?.label)
        rowOfMessage.reserveCapacity(maxBatch)
        reasonsEncoder = explainTop > 0 && models.primary.explanationProblem == nil
            ? ReasonsEncoder(model: models.primary.forest, top: explainTop) : nil
        if let reasonsEncoder {
            reasonsScratch = [UInt8](repeating: 0, count: reasonsEncoder.maxCount)
            rankingScratch.reserveCapacity(explainTop)
        }
    }

    /// The last batch's drift cells of each serving model that has a drift reference.
    func forEachDrift(_ body: (DriftBatchCounts) -> Void) {
        if let drift = primary.drift { body(drift) }
        if let drift = shadow?.drift { body(drift) }
        if let drift = canary?.drift { body(drift) }
    }

    /// The reason behind a negative entry of ``rowOfMessage``.
    func reason(_ entry: Int32) -> DeadLetterReason { reasons[Int(-entry - 1)] }

    /// Featurizes and scores every message of `batches`, in order, and encodes the predictions.
    func score(_ batches: [KafkaMessageBatch]) {
        primary.features.removeAll()
        canary?.features.removeAll()
        shadow?.features.removeAll()
        rowOfMessage.removeAll(keepingCapacity: true)
        reasons.removeAll(keepingCapacity: true)
        canaryRowOfRow.removeAll(keepingCapacity: true)
        shadowRowOfRow.removeAll(keepingCapacity: true)
        for batch in batches {
            for message in batch {
                // A null value featurizes as empty input: "not JSON".
                (message.value ?? []).withUnsafeBytes { event in featurize(event) }
            }
        }
        primary.countDrift(primary.features)
        shadow?.countDrift(shadowSharesRows ? primary.features : shadow!.features)
        canary?.countDrift(canary!.features)
        primary.predict(primary.features)
        if reasonsEncoder != nil { primary.explain(primary.features) }
        if let shadow { shadow.predict(shadowSharesRows ? primary.features : shadow.features) }
        if let canary { canary.predict(canary.features) }
        encodePredictions(batches)
    }

    private func featurize(_ event: UnsafeRawBufferPointer) {
        switch primary.features.append(event, using: primary.featurizer) {
        case .failure(let error):
            reasons.append(DeadLetterReason(error))
            rowOfMessage.append(-Int32(reasons.count))
        case .success(let row):
            rowOfMessage.append(Int32(row))
            if let canary, let split {
                let info = primary.features.events[row]
                var canaryRow: Int32 = -1
                if split.isCanary(id: UnsafeRawBufferPointer(rebasing: event[info.idStart..<info.idEnd])) {
                    if canarySharesRows {
                        canary.features.appendRow(row, of: primary.features)
                        canaryRow = Int32(canary.features.count - 1)
                    } else if case .success(let own) = canary.features.append(event, using: canary.featurizer) {
                        canaryRow = Int32(own)
                    }
                }
                canaryRowOfRow.append(canaryRow)
            }
            if let shadow, !shadowSharesRows {
                if case .success(let own) = shadow.features.append(event, using: shadow.featurizer) {
                    shadowRowOfRow.append(Int32(own))
                } else {
                    shadowRowOfRow.append(-1)
                }
            }
        }
    }

    private func encodePredictions(_ batches: [KafkaMessageBatch]) {
        scoredAt = Int64(Date().timeIntervalSince1970 * 1000)
        predictionEnds.removeAll(keepingCapacity: true)
        variantStats.reset(primary: models.primary.label, shadow: models.shadow?.label, canary: models.canary?.label)
        variantStats.primary.nanoseconds = primary.evaluationNanoseconds
        variantStats.shadow?.nanoseconds = shadow?.evaluationNanoseconds ?? 0
        variantStats.canary?.nanoseconds = canary?.evaluationNanoseconds ?? 0
        var bound = 0
        let reasonsBound = reasonsEncoder?.maxCount ?? 0
        for event in primary.features.events { bound += encoder.maxCount(idLength: event.idEnd - event.idStart, reasonsCount: reasonsBound) }
        if predictions.count < bound { predictions = [UInt8](repeating: 0, count: bound + bound / 2) }
        var end = 0
        var primaryStats = variantStats.primary
        var shadowStats = variantStats.shadow
        var canaryStats = variantStats.canary
        defer {
            variantStats.primary = primaryStats
            variantStats.shadow = shadowStats
            variantStats.canary = canaryStats
        }
        predictions.withUnsafeMutableBufferPointer { output in
            var index = 0
            for batch in batches {
                for message in batch {
                    defer { index += 1 }
                    let row = Int(rowOfMessage[index])
                    guard row >= 0 else { continue }
                    var p = primary.probabilities[row]
                    var variant = Variant.primary
                    if canary != nil, case let canaryRow = canaryRowOfRow[row], canaryRow >= 0 {
                        p = canary!.probabilities[Int(canaryRow)]
                        variant = .canary
                    }
                    guard p.isFinite else {
                        let label = variant == .canary ? models.canary!.label : models.primary.label
                        reasons.append(DeadLetterReason(
                            code: "non_finite_prediction",
                            description: "model \(label) gave a non-finite probability (\(p)) for this event"))
                        rowOfMessage[index] = -Int32(reasons.count)
                        predictionEnds.append(end)
                        continue
                    }
                    var shadowP: Float?
                    if let shadow {
                        let shadowRow = shadowSharesRows ? row : Int(shadowRowOfRow[row])
                        if shadowRow >= 0 {
                            shadowP = shadow.probabilities[shadowRow]
                            shadowStats?.record(shadowP!)
                        }
                    }
                    if variant == .canary { canaryStats?.record(p) } else { primaryStats.record(p) }
                    let reasonsCount = variant == .primary ? writeReasons(row: row) : 0
                    reasonsScratch.withUnsafeBytes { reasons in
                        (message.value ?? []).withUnsafeBytes { event in
                            end += encoder.write(
                                event: event, info: primary.features.events[row], p: p, variant: variant, shadow: shadowP,
                                reasons: reasonsCount > 0 ? UnsafeRawBufferPointer(rebasing: reasons[0..<reasonsCount]) : nil,
                                scoredAt: scoredAt, eventTimestamp: message.timestampMs, to: output.baseAddress! + end)
                        }
                    }
                    predictionEnds.append(end)
                }
            }
        }
    }

    /// Writes the reasons of a primary row into `reasonsScratch`; returns their length (0 when
    /// explanations are off).
    private func writeReasons(row: Int) -> Int {
        guard let reasonsEncoder else { return 0 }
        let featureCount = primary.featurizer.featureCount
        let width = primary.model.forest.contributionCount
        return primary.features.rows.withUnsafeBufferPointer { rows in
            primary.contributions.withUnsafeBufferPointer { contributions in
                reasonsScratch.withUnsafeMutableBufferPointer { scratch in
                    reasonsEncoder.write(
                        row: UnsafeBufferPointer(rebasing: rows[row * featureCount ..< (row + 1) * featureCount]),
                        contributions: UnsafeBufferPointer(rebasing: contributions[row * width ..< row * width + featureCount]),
                        indices: &rankingScratch, to: scratch.baseAddress!)
                }
            }
        }
    }

    /// Hands the prediction message of a scored row to `body` (the bytes are valid only during
    /// the call).
    func withPrediction<R>(row: Int32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let row = Int(row)
        let start = row == 0 ? 0 : predictionEnds[row - 1]
        return try predictions.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<predictionEnds[row]])) }
    }
}

extension CanarySplit {
    init(basisPoints: Int) {
        self.init(percent: Double(basisPoints) / 100)
    }
}
