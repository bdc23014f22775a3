import Features
import Forest
import Foundation

/// A bundle's `reference.jsonl`: raw events with the exact probabilities XGBoost gave them when
/// the bundle was trained, which the bundle must reproduce before it may serve.
///
/// One JSON object per line: `id`, `raw` (the event's exact JSON text, as a string), `p` (the
/// probability, for people) and `p_bits` (its float32 bit pattern, what is compared). Written by
/// `models/train/reference.py`.
struct ReferenceEvents {
    struct Event {
        var id: String
        var raw: [UInt8]
        var probabilityBits: UInt32
    }

    var events: [Event]

    static func load(path: String) throws(BundleError) -> ReferenceEvents {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BundleError(.io, "cannot read \(path)")
        }
        var events: [Event] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                  let raw = object["raw"] as? String,
                  let bits = (object["p_bits"] as? NSNumber)?.uint32Value else {
                throw BundleError(.invalidReference, "\(path) line \(index + 1) is not an object with \"raw\" (string) and \"p_bits\" (float32 bit pattern)")
            }
            events.append(Event(id: object["id"] as? String ?? "?", raw: Array(raw.utf8), probabilityBits: bits))
        }
        guard !events.isEmpty else { throw BundleError(.invalidReference, "\(path) holds no events") }
        return ReferenceEvents(events: events)
    }

    /// Replays the events through `featurizer` and `model`; throws on the first event that is
    /// refused, scored outside [0, 1] (or NaN), or scored differently from XGBoost.
    func verify(model: ForestModel, modelFile: String = ModelBundle.File.model, featurizer: Featurizer, bundle: String) throws(BundleError) {
        let trainer = modelFile == ModelBundle.File.lightGBMModel ? "LightGBM" : "XGBoost"
        var batch = FeatureBatch(featureCount: featurizer.featureCount, capacity: events.count)
        for (index, event) in events.enumerated() {
            let result = event.raw.withUnsafeBytes { batch.append($0, using: featurizer) }
            if case .failure(let error) = result {
                throw BundleError(.referenceMismatch, "\(bundle): reference event \(index + 1) (id \(event.id)) is refused by features.json: \(error.description)")
            }
        }
        let probabilities: [Float]
        do {
            probabilities = try model.predict(batch.rows)
        } catch {
            throw BundleError(.invalidModel, "\(bundle): cannot score the reference events: \(error)")
        }
        for (index, p) in probabilities.enumerated() where !(p >= 0 && p <= 1) {
            throw BundleError(.outOfRange, "\(bundle): the model gives \(p) for reference event \(index + 1) (id \(events[index].id)), outside [0, 1]")
        }
        for (index, (p, event)) in zip(probabilities, events).enumerated() where p.bitPattern != event.probabilityBits {
            let expected = Float(bitPattern: event.probabilityBits)
            throw BundleError(.referenceMismatch, "\(bundle): reference event \(index + 1) (id \(event.id)): \(trainer) gave p=\(expected), this bundle gives \(p) (\(modelFile) and features.json must be the pair that was trained together)")
        }
    }
}
