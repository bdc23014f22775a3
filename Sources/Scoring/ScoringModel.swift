import Features
import Forest
import Foundation

/// A loaded, validated model bundle: what the service scores with and can swap at runtime.
///
/// Immutable and `Sendable`: loaded on a thread of its own, handed to the scoring thread, which
/// builds its own featurizer from `spec`.
struct ScoringModel: Sendable {
    /// The name predictions carry in their `model` field: the bundle card's `name`, else the
    /// folder's name.
    let name: String
    let spec: FeatureSpec
    let forest: ForestModel

    /// Loads a bundle folder (`model.json`, `features.json`, `card.json`) and checks that its parts
    /// fit together, so a bad bundle is refused before it could serve a single event.
    ///
    /// - Throws: ``ScoringError`` `.invalidModel` naming the bundle and the problem.
    static func load(path: String) throws(ScoringError) -> ScoringModel {
        func fail(_ reason: String) -> ScoringError { ScoringError.invalidModel(path: path, reason: reason) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail("no such folder")
        }
        guard isDirectory.boolValue else { throw fail("expected a bundle folder with model.json, features.json and card.json") }
        let folder = URL(fileURLWithPath: path)

        let spec: FeatureSpec
        do {
            spec = try FeatureSpec.load(path: folder.appendingPathComponent("features.json").path)
        } catch {
            throw fail("features.json: \(error.description)")
        }
        let forest: ForestModel
        do {
            forest = try ForestModel.load(path: folder.appendingPathComponent("model.json").path)
        } catch {
            throw fail("model.json: \(oneLine(error))")
        }
        guard forest.featureCount == spec.features.count else {
            throw fail("model.json expects \(forest.featureCount) features but features.json defines \(spec.features.count)")
        }
        guard forest.predictionCount == 1 else {
            throw fail("the model predicts \(forest.predictionCount) values per event; the service publishes one probability")
        }
        let name = try cardName(folder.appendingPathComponent("card.json"), fail: fail) ?? folder.lastPathComponent
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }) else {
            throw fail("card.json name '\(name)' must be non-empty plain text")
        }
        return ScoringModel(name: name, spec: spec, forest: forest)
    }

    private static func cardName(_ url: URL, fail: (String) -> ScoringError) throws(ScoringError) -> String? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        guard let card = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("card.json is not a JSON object")
        }
        return card["name"] as? String
    }

    private static func oneLine(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
