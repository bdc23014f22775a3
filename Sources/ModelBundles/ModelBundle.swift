public import Features
public import Forest
import Foundation

/// A model bundle folder (`models/<name>/`): the model (XGBoost `model.json` or LightGBM
/// `model.txt`), the feature spec it was trained with, its model card and its reference events,
/// loaded and checked against each other.
///
/// Immutable and `Sendable`: the service holds one per model slot (primary, shadow, canary) and
/// swaps the reference to reload. Make a ``Featurizer`` per thread with ``makeFeaturizer()``; they
/// share the compiled spec.
public struct ModelBundle: Sendable {
    /// The card's `name`, else the folder's name.
    public let name: String
    /// `name@<first 8 hex digits of SHA-256(model file + features.json)>` (the model file is
    /// `model.json` or `model.txt`): the label predictions,
    /// metrics and logs carry, different for any two bundles whose model or features differ.
    public let identity: ModelIdentity
    /// The folder it was loaded from.
    public let path: String
    /// The model's file in the folder: `model.json` (XGBoost) or `model.txt` (LightGBM).
    public let modelFile: String
    /// The compiled tree ensemble.
    public let model: ForestModel
    /// The feature spec (`features.json`).
    public var spec: FeatureSpec { plan.spec }
    /// The model card (`card.json`), if the bundle has one.
    public let card: ModelCard?
    /// How many reference events (`reference.jsonl`) the bundle reproduced bit for bit when it
    /// was loaded; 0 when it has none.
    public let referenceEventCount: Int
    /// Things an operator should know that do not make the bundle unusable (one line each), e.g. a
    /// bundle without `reference.jsonl`.
    public let warnings: [String]

    let plan: FeaturePlan

    /// The files a bundle folder holds.
    public enum File {
        public static let model = "model.json"
        /// A LightGBM text model (`Booster.save_model`), held instead of `model.json`.
        public static let lightGBMModel = "model.txt"
        public static let features = "features.json"
        public static let card = "card.json"
        public static let reference = "reference.jsonl"
    }

    /// Loads a bundle folder and proves it before it may serve a single event.
    ///
    /// The model is `model.json` (XGBoost) or `model.txt` (LightGBM), never both.
    /// Checks, in order: the files exist and parse; the model is valid (no non-finite threshold,
    /// leaf or base score) and predicts one value per row; `features.json` agrees with the model
    /// (count, names, categorical types; for `model.txt` also the category codes) and the card; and the model reproduces, bit for bit, the
    /// probabilities XGBoost (or LightGBM) gave the events of `reference.jsonl` through this featurizer, all of
    /// them within [0, 1]. A bundle without `reference.jsonl` loads with a warning.
    ///
    /// - Throws: ``BundleError`` whose code names the reason and whose description is one line
    ///   naming the file (and, for a reference mismatch, the first differing event).
    public static func load(path: String) throws(BundleError) -> ModelBundle {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BundleError(.io, "'\(path)' is not a folder (a bundle holds model.json or model.txt, features.json, card.json, reference.jsonl)")
        }
        let folder = URL(fileURLWithPath: path)
        func file(_ name: String) -> String { folder.appendingPathComponent(name).path }
        guard let specBytes = FileManager.default.contents(atPath: file(File.features)) else {
            throw BundleError(.io, "'\(path)' has no readable features.json")
        }
        let hasJSON = FileManager.default.fileExists(atPath: file(File.model))
        let hasText = FileManager.default.fileExists(atPath: file(File.lightGBMModel))
        if hasJSON && hasText {
            throw BundleError(.invalidModel, "'\(path)' holds both model.json and model.txt: a bundle holds exactly one model (remove one)")
        }
        let modelFile = hasText ? File.lightGBMModel : File.model
        guard let modelBytes = FileManager.default.contents(atPath: file(modelFile)) else {
            throw BundleError(.io, "'\(path)' has no readable model.json or model.txt")
        }
        let spec: FeatureSpec
        do {
            spec = try FeatureSpec(json: Array(specBytes))
        } catch {
            throw BundleError(.invalidSpec, "\(file(File.features)): \(error.description)")
        }
        let model: ForestModel
        do {
            model = try ForestModel(serialized: Array(modelBytes))
        } catch let error as ForestError {
            throw BundleError(error.code == .nonFinite ? .nonFinite : .invalidModel, "\(file(modelFile)): \(error.message)")
        } catch {
            throw BundleError(.invalidModel, "\(file(modelFile)): \(error)")
        }
        var card = FileManager.default.fileExists(atPath: file(File.card)) ? try ModelCard.load(path: file(File.card)) : nil
        try validate(model: model, modelFile: modelFile, spec: spec, card: card, bundle: path)
        if modelFile == File.lightGBMModel { try validateLightGBMCategories(Array(modelBytes), spec: spec, bundle: path) }
        // Read again with the spec, which is now known to fit the model: its drift reference.
        if card != nil { card = try ModelCard.load(path: file(File.card), spec: spec) }

        let name = card?.name ?? folder.lastPathComponent
        let identity = ModelIdentity(name: name, contents: [Array(modelBytes), Array(specBytes)])
        let plan = FeaturePlan(spec: spec)
        var warnings: [String] = []
        var referenceCount = 0
        if FileManager.default.fileExists(atPath: file(File.reference)) {
            let reference = try ReferenceEvents.load(path: file(File.reference))
            try reference.verify(model: model, modelFile: modelFile, featurizer: Featurizer(plan: plan), bundle: path)
            referenceCount = reference.events.count
        } else {
            warnings.append("\(path) has no reference.jsonl: it cannot prove that it reproduces \(hasText ? "LightGBM" : "XGBoost")'s probabilities (retrain with `make model`, or write one with models/train/reference.py)")
        }
        return ModelBundle(
            name: name, identity: identity, path: path, modelFile: modelFile, model: model, card: card, referenceEventCount: referenceCount,
            warnings: warnings, plan: plan)
    }

    /// A new featurizer for this bundle's spec (cheap: shares the compiled tables).
    public func makeFeaturizer() -> Featurizer {
        Featurizer(plan: plan)
    }

    /// Probabilities for the rows of `batch` (one per row, in order).
    ///
    /// - Throws: ``BundleError`` (`.invalidModel`) if the batch's width is not the model's.
    public func predict(_ batch: FeatureBatch) throws(BundleError) -> [Float] {
        guard batch.featureCount == model.featureCount else {
            throw BundleError(.invalidModel, "batch rows have \(batch.featureCount) values, model '\(name)' needs \(model.featureCount)")
        }
        do {
            return try model.predict(batch.rows)
        } catch {
            throw BundleError(.invalidModel, "model '\(name)': \(error)")
        }
    }

    static func validate(model: ForestModel, modelFile: String = File.model, spec: FeatureSpec, card: ModelCard?, bundle: String) throws(BundleError) {
        guard model.featureCount == spec.features.count else {
            throw BundleError(.specMismatch, "\(bundle): \(modelFile) has \(model.featureCount) features, features.json has \(spec.features.count)")
        }
        guard model.predictionCount == 1 else {
            throw BundleError(.invalidModel, "\(bundle): the model predicts \(model.predictionCount) values per row; an install model predicts 1 probability")
        }
        if !model.featureNames.isEmpty {
            for (k, (a, b)) in zip(model.featureNames, spec.featureNames).enumerated() where a != b {
                throw BundleError(.specMismatch, "\(bundle): feature \(k) is '\(a)' in \(modelFile) but '\(b)' in features.json")
            }
        }
        if !model.featureTypes.isEmpty {
            for (k, (type, feature)) in zip(model.featureTypes, spec.features).enumerated()
            where (type == "c") != feature.isCategorical {
                throw BundleError(
                    .specMismatch,
                    "\(bundle): feature \(k) '\(feature.name)' is \(type == "c" ? "categorical" : "numeric") in \(modelFile) but \(feature.isCategorical ? "categorical" : "numeric") in features.json")
            }
        }
        if let card, let count = card.featureCount, count != spec.features.count {
            throw BundleError(.specMismatch, "\(bundle): card.json says \(count) features, features.json has \(spec.features.count)")
        }
    }
}

extension ModelBundle {
    /// LightGBM's `feature_infos=` line lists, for each categorical feature, the category values it
    /// was trained on: they must be codes features.json's featurizer produces (0..<vocabulary.count,
    /// vocabulary.count for "other", -1 LightGBM's missing), and a feature LightGBM treated as
    /// numerical (`[min:max]`) or categorical must be so in features.json (`none`: unused, no check).
    static func validateLightGBMCategories(_ bytes: [UInt8], spec: FeatureSpec, bundle: String) throws(BundleError) {
        let header = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).prefix { line in
            !line.starts(with: Array("Tree=".utf8))
        }
        guard let line = header.first(where: { $0.starts(with: Array("feature_infos=".utf8)) }) else { return }
        let infos = String(decoding: line.dropFirst("feature_infos=".utf8.count), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ", omittingEmptySubsequences: false)
        for (k, (info, feature)) in zip(infos, spec.features).enumerated() where info != "none" {
            let numerical = info.hasPrefix("[")
            guard numerical != feature.isCategorical else {
                throw BundleError(
                    .specMismatch,
                    "\(bundle): feature \(k) '\(feature.name)' is \(numerical ? "numeric" : "categorical") in model.txt but \(feature.isCategorical ? "categorical" : "numeric") in features.json")
            }
            let count: Int
            switch feature.transform {
            case .stringCategory(_, let vocabulary): count = vocabulary.count
            case .numberCategory(_, let vocabulary): count = vocabulary.count
            default: continue
            }
            for text in info.split(separator: ":") {
                guard let code = Int(text), code == -1 || (0...count).contains(code) else {
                    throw BundleError(
                        .specMismatch,
                        "\(bundle): categorical feature \(k) '\(feature.name)' has category \(text) in model.txt, but features.json's codes are 0...\(count) (\(count) = other)")
                }
            }
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
    /// The training-set histograms drift is measured against (`drift_reference`), when the card
    /// has them and was read with the feature spec.
    public var driftReference: DriftReference? = nil

    /// Reads `card.json`; with `spec`, also its `drift_reference`, matched to the spec's features.
    ///
    /// - Throws: ``BundleError`` (`.io` or `.invalidCard`) if the file is unreadable or not an
    ///   object, or its drift reference does not fit `spec`.
    public static func load(path: String, spec: FeatureSpec? = nil) throws(BundleError) -> ModelCard {
        guard let data = FileManager.default.contents(atPath: path) else { throw BundleError(.io, "cannot read model card '\(path)'") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw BundleError(.invalidCard, "\(path) is not a JSON object")
        }
        let validation = object["validation"] as? [String: Any]
        var card = ModelCard(
            name: object["name"] as? String, version: object["version"] as? Int,
            xgboostVersion: object["xgboost_version"] as? String, featureCount: object["features"] as? Int,
            validationAUC: validation?["auc"] as? Double, meanPredicted: validation?["mean_predicted"] as? Double,
            actualRate: validation?["actual_rate"] as? Double)
        if let spec, let drift = object["drift_reference"] {
            guard let drift = drift as? [String: Any] else { throw BundleError(.invalidCard, "\(path): drift_reference is not an object") }
            card.driftReference = try DriftReference.parse(drift, spec: spec, path: path)
        }
        return card
    }
}
