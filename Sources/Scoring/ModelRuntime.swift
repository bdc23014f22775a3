import Features
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
    private(set) var encoder: PredictionEncoder

    init(model: ScoringModel, maxBatch: Int) {
        self.model = model
        featurizer = Featurizer(spec: model.spec)
        features = FeatureBatch(featureCount: featurizer.featureCount, capacity: maxBatch)
        rowOfMessage.reserveCapacity(maxBatch)
        probabilities = [Float](repeating: 0, count: maxBatch)
        encoder = PredictionEncoder(modelName: model.name)
    }

    /// Featurizes and scores every message of `batches`, in order.
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
    }

    /// The prediction message for a scored event (valid until the next call).
    func encodePrediction(event: UnsafeRawBufferPointer, row: Int32, scoredAt: Int64, eventTimestamp: Int64?) -> [UInt8] {
        encoder.encode(
            event: event, info: features.events[Int(row)], p: probabilities[Int(row)], scoredAt: scoredAt,
            eventTimestamp: eventTimestamp)
    }
}
