public import Forest
import Foundation

/// A model bundle folder (`models/<name>/`): the XGBoost model, the feature spec it was trained with,
/// and its model card, loaded and checked against each other.
///
/// Immutable and `Sendable`: the service holds one per active model (plus shadow/canary) and swaps
/// the reference to reload. Make a ``Featurizer`` per thread with ``makeFeaturizer()``; they share
/// the compiled spec.
public struct ModelBundle: Sendable {
    /// The model's name as published in predictions (`"model"`): the card's `name`, else the folder name.
    public let name: String
    /// The folder it was loaded from.
    public let path: String
    /// The compiled tree ensemble.
    public let model: ForestModel
    /// The feature spec (`features.json`).
    public var spec: FeatureSpec { plan.spec }
    /// The model card (`card.json`), if the bundle has one.
    public let card: ModelCard?

    let plan: FeaturePlan

    /// Loads and validates the bundle in `path` (a folder with `model.json`, `features.json` and
    /// optionally `card.json`).
    ///
    /// - Throws: ``FeatureError`` with code `invalidBundle` (or `io`/`invalidSpec`), one line naming the
    ///   file and the disagreement: a missing file, an unreadable model, a feature count or name that
    ///   differs between model and spec, a categorical mismatch, a model that is not a binary classifier.
    public static func load(path: String) throws(FeatureError) -> ModelBundle {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .invalidBundle("'\(path)' is not a folder (a bundle holds model.json, features.json, card.json)")
        }
        let folder = URL(fileURLWithPath: path)
        let specPath = folder.appendingPathComponent("features.json").path
        guard FileManager.default.fileExists(atPath: specPath) else {
            throw .invalidBundle("'\(path)' has no features.json")
        }
        let spec: FeatureSpec
        do {
            spec = try FeatureSpec.load(path: specPath)
        } catch {
            throw .invalidBundle("\(specPath): \(error.description)")
        }
        let model: ForestModel
        do {
            model = try ForestModel.load(contentsOf: folder.appendingPathComponent("model.json"))
        } catch {
            throw .invalidBundle("\(error)")
        }
        let cardURL = folder.appendingPathComponent("card.json")
        let card = FileManager.default.fileExists(atPath: cardURL.path) ? try ModelCard.load(path: cardURL.path) : nil
        let name = card?.name ?? folder.lastPathComponent
        try validate(model: model, spec: spec, card: card, bundle: path)
        return ModelBundle(name: name, path: path, model: model, card: card, plan: FeaturePlan(spec: spec))
    }

    /// A new featurizer for this bundle's spec (cheap: shares the compiled tables).
    public func makeFeaturizer() -> Featurizer {
        Featurizer(plan: plan)
    }

    /// Probabilities for the rows of `batch` (one per row, in order).
    ///
    /// - Throws: ``FeatureError`` with code `invalidBundle` if the batch's width is not the model's.
    public func predict(_ batch: FeatureBatch) throws(FeatureError) -> [Float] {
        guard batch.featureCount == model.featureCount else {
            throw .invalidBundle("batch rows have \(batch.featureCount) values, model '\(name)' needs \(model.featureCount)")
        }
        do {
            return try model.predict(batch.rows)
        } catch {
            throw .invalidBundle("model '\(name)': \(error)")
        }
    }

    static func validate(model: ForestModel, spec: FeatureSpec, card: ModelCard?, bundle: String) throws(FeatureError) {
        guard model.featureCount == spec.features.count else {
            throw .invalidBundle("\(bundle): model.json has \(model.featureCount) features, features.json has \(spec.features.count)")
        }
        guard model.predictionCount == 1 else {
            throw .invalidBundle("\(bundle): the model predicts \(model.predictionCount) values per row; an install model predicts 1 probability")
        }
        if !model.featureNames.isEmpty {
            for (k, (a, b)) in zip(model.featureNames, spec.featureNames).enumerated() where a != b {
                throw .invalidBundle("\(bundle): feature \(k) is '\(a)' in model.json but '\(b)' in features.json")
            }
        }
        if !model.featureTypes.isEmpty {
            for (k, (type, feature)) in zip(model.featureTypes, spec.features).enumerated()
            where (type == "c") != feature.isCategorical {
                throw .invalidBundle(
                    "\(bundle): feature \(k) '\(feature.name)' is \(type == "c" ? "categorical" : "numeric") in model.json but \(feature.isCategorical ? "categorical" : "numeric") in features.json")
            }
        }
        if let card, let count = card.featureCount, count != spec.features.count {
            throw .invalidBundle("\(bundle): card.json says \(count) features, features.json has \(spec.features.count)")
        }
    }
}

/// The parts of a model card (`card.json`) the serving side reports.
public struct ModelCard: Sendable, Equatable {
    /// The model name (e.g. "install-v1").
    public let name: String?
    /// The card's version number, if any.
    public let version: Int?
    /// XGBoost version used for training.
    public let xgboostVersion: String?
    /// Number of features the model was trained on.
    public let featureCount: Int?
    /// Validation AUC.
    public let validationAUC: Double?
    /// Mean predicted probability on the validation rows.
    public let meanPredicted: Double?
    /// Actual install rate on the validation rows.
    public let actualRate: Double?

    /// Reads `card.json`.
    ///
    /// - Throws: ``FeatureError`` (`io` or `invalidBundle`) if the file is unreadable or not an object.
    public static func load(path: String) throws(FeatureError) -> ModelCard {
        guard let data = FileManager.default.contents(atPath: path) else { throw .io("cannot read model card '\(path)'") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidBundle("\(path) is not a JSON object")
        }
        let validation = object["validation"] as? [String: Any]
        return ModelCard(
            name: object["name"] as? String, version: object["version"] as? Int,
            xgboostVersion: object["xgboost_version"] as? String, featureCount: object["features"] as? Int,
            validationAUC: validation?["auc"] as? Double, meanPredicted: validation?["mean_predicted"] as? Double,
            actualRate: validation?["actual_rate"] as? Double)
    }
}
