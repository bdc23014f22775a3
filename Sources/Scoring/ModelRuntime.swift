import Features
import Foundation
import Forest
import Kafka

/// The scoring thread's working set for one model: its featurizer (mutable scratch, so one per
/// thread), the feature matrix and the prediction encoder, allocated once and reused by every
/// batch (appending and encoding allocate nothing once the buffers have grown).
///
/// Hot path: featurize every event of the micro-batch into one row-major Float32 matrix, then
/// score the whole matrix with one call into the forest's vectorised evaluator.
final class ModelRuntime {
    let model: ScoringModel
    private let featurizer: Featurizer
    private var features: FeatureBatch
    /// Per message of the batch, in order: its row in `features`, or -1 for a dead letter.
    private(set) var rowOfMessage: [Int32] = []
    /// Featurizer errors of the batch, in message order (dead letters are the exception).
    private(set) var errors: [FeatureError] = []
    private(set) var probabilities: [Float] = []
    private let encoder: PredictionEncoder
    /// The batch's prediction messages, back to back (encoded where the batch is scored, which
    /// is the worker thread for large batches: the producing thread only hands bytes over).
    private var predictions: [UInt8] = []
    /// Per row: where its prediction ends in `predictions` (it starts where the previous ends).
    private var predictionEnds: [Int] = []
    /// When the batch was scored (ms since the epoch): its predictions' `scored_at`.
    private(set) var scoredAt: Int64 = 0

    init(model: ScoringModel, maxBatch: Int) {
        self.model = model
        featurizer = Featurizer(spec: model.spec)
        features = FeatureBatch(featureCount: featurizer.featureCount, capacity: maxBatch)
        rowOfMessage.reserveCapacity(maxBatch)
        probabilities = [Float](repeating: 0, count: maxBatch)
        encoder = PredictionEncoder(modelName: model.name)
    }

    /// Featurizes and scores every message of `batches`, in order, and encodes the predictions.
    func score(_ batches: [KafkaMessageBatch]) {
        features.removeAll()
        rowOfMessage.removeAll(keepingCapacity: true)
        errors.removeAll(keepingCapacity: true)
        for batch in batches {
            for message in batch {
                // A null value featurizes as empty input: "not JSON".
                let result = (message.value ?? []).withUnsafeBytes { features.append($0, using: featurizer) }
                switch result {
                case .success(let row):
                    rowOfMessage.append(Int32(row))
                case .failure(let error):
                    rowOfMessage.append(-1)
                    errors.append(error)
                }
            }
        }
        let scored = features.count
        guard scored > 0 else { return }
        if probabilities.count < scored { probabilities = [Float](repeating: 0, count: scored) }
        features.rows.withUnsafeBufferPointer { rows in
            probabilities.withUnsafeMutableBufferPointer { output in
                // The buffers are sized here, so the evaluator's size check cannot fail.
                try! model.forest.predict(rows: rows, count: scored, into: UnsafeMutableBufferPointer(rebasing: output[0..<scored]))
            }
        }
        encodePredictions(batches)
    }

    private func encodePredictions(_ batches: [KafkaMessageBatch]) {
        scoredAt = Int64(Date().timeIntervalSince1970 * 1000)
        predictionEnds.removeAll(keepingCapacity: true)
        var bound = 0
        for event in features.events { bound += encoder.maxCount(idLength: event.idEnd - event.idStart) }
        if predictions.count < bound { predictions = [UInt8](repeating: 0, count: bound + bound / 2) }
        var row = 0
        var end = 0
        predictions.withUnsafeMutableBufferPointer { output in
            var index = 0
            for batch in batches {
                for message in batch {
                    defer { index += 1 }
                    guard rowOfMessage[index] >= 0 else { continue }
                    (message.value ?? []).withUnsafeBytes { event in
                        end += encoder.write(
                            event: event, info: features.events[row], p: probabilities[row], scoredAt: scoredAt,
                            eventTimestamp: message.timestampMs, to: output.baseAddress! + end)
                    }
                    predictionEnds.append(end)
                    row += 1
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
