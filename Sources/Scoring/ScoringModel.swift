import Features
import Forest
import ModelBundles

/// A loaded, proven model bundle: what the service scores with and can swap at runtime.
///
/// Immutable and `Sendable`: loaded on a thread of its own, handed to the scoring thread, which
/// builds its own featurizers from `bundle`. Loading and proving are `ModelBundle`'s (one place for
/// what a good bundle is, shared with `scorer score`); this adds the service's own rule.
struct ScoringModel: Sendable {
    let bundle: ModelBundle

    /// The label predictions, metrics and logs carry: `name@hash`.
    var identity: ModelIdentity { bundle.identity }
    var label: String { bundle.identity.description }
    var spec: FeatureSpec { bundle.spec }
    var forest: ForestModel { bundle.model }

    /// Loads and proves a bundle folder (see `ModelBundle.load`).
    ///
    /// - Throws: `BundleError` naming the reason and the problem in one line.
    static func load(path: String) throws(BundleError) -> ScoringModel {
        ScoringModel(bundle: try ModelBundle.load(path: path))
    }

    /// Why this model cannot give predictions `"reasons"` (`scorer run --explain`), or nil when it
    /// can: TreeSHAP must be available for it, and it must have one output (`p` is one probability).
    var explanationProblem: String? {
        if let reason = forest.explanationUnavailableReason { return reason }
        if forest.outputCount != 1 { return "explanations need a model with one output (this one has \(forest.outputCount))" }
        return nil
    }
}

/// The roles a model can have in the service.
enum ModelRole: String, Sendable, CaseIterable {
    /// Answers every event (except the canary's share).
    case primary
    /// Scores every event too; its probability is published as `p_shadow`, never as the answer.
    case shadow
    /// Answers the share of event ids the split gives it (`variant: canary`).
    case canary
}

/// The models serving at one moment: a primary, and optionally a shadow and a canary with its share.
struct ServingModels: Sendable {
    var primary: ScoringModel
    var shadow: ScoringModel?
    var canary: ScoringModel?
    /// The canary's share of event ids, in basis points (10 % = 1,000).
    var canaryBasisPoints: Int

    subscript(role: ModelRole) -> ScoringModel? {
        switch role {
        case .primary: primary
        case .shadow: shadow
        case .canary: canary
        }
    }
}
