import Features
import Forest

/// A loaded, validated model bundle: what the service scores with and can swap at runtime.
///
/// Immutable and `Sendable`: loaded on a thread of its own, handed to the scoring thread, which
/// builds its own featurizer from `spec`. Loading and validation are `ModelBundle`'s (one place for
/// what a good bundle is, shared with `scorer score --events`); this adds the service's own rule.
struct ScoringModel: Sendable {
    let bundle: ModelBundle

    /// The name predictions carry in their `model` field: the bundle card's `name`, else the
    /// folder's name.
    var name: String { bundle.name }
    var spec: FeatureSpec { bundle.spec }
    var forest: ForestModel { bundle.model }

    /// Loads a bundle folder (`model.json`, `features.json`, `card.json`) and checks that its parts
    /// fit together, so a bad bundle is refused before it could serve a single event.
    ///
    /// - Throws: ``ScoringError`` `.invalidModel` naming the bundle and the problem.
    static func load(path: String) throws(ScoringError) -> ScoringModel {
        let bundle: ModelBundle
        do {
            bundle = try ModelBundle.load(path: path)
        } catch {
            throw ScoringError.invalidModel(path: path, reason: error.description)
        }
        guard bundle.model.predictionCount == 1 else {
            throw ScoringError.invalidModel(
                path: path,
                reason: "the model predicts \(bundle.model.predictionCount) values per event; the service publishes one probability"
            )
        }
        return ScoringModel(bundle: bundle)
    }
}
