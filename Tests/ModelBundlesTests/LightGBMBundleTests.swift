import Foundation
import Testing

@testable import Features
@testable import ModelBundles

/// A bundle holding a LightGBM `model.txt` instead of `model.json` (Fixtures/install-lgbm, written
/// by Fixtures/make_lightgbm_bundle.py): the same checks as an XGBoost bundle.
@Suite struct LightGBMBundleTests {
    static let path = TestSupport.lightGBMBundlePath

    func loadError(_ path: String) -> BundleError? {
        do {
            _ = try ModelBundle.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func loadsAndReproducesItsReferenceEvents() throws {
        let bundle = try ModelBundle.load(path: Self.path)
        #expect(bundle.name == "install-lgbm")
        #expect(bundle.model.summary.format.hasPrefix("LightGBM"))
        #expect(bundle.model.featureNames == bundle.spec.featureNames)
        #expect(bundle.model.featureCount == bundle.spec.features.count)
        let reference = try TestSupport.jsonLines(URL(fileURLWithPath: Self.path + "/reference.jsonl"))
        #expect(bundle.referenceEventCount == reference.count)
        #expect(reference.count >= 100)
        #expect(bundle.warnings.isEmpty)

        // The same probabilities through the bundle's own featurizer and predict (not only the
        // load-time replay), and not all alike.
        let featurizer = bundle.makeFeaturizer()
        var batch = FeatureBatch(featureCount: featurizer.featureCount, capacity: reference.count)
        for record in reference {
            let raw = Array(try #require(record["raw"] as? String).utf8)
            let result = raw.withUnsafeBytes { batch.append($0, using: featurizer) }
            if case .failure(let error) = result { Issue.record("refused: \(error)") }
        }
        let p = try bundle.predict(batch)
        let expected = reference.map { ($0["p_bits"] as! NSNumber).uint32Value }
        #expect(p.map(\.bitPattern) == expected)
        #expect(Set(expected).count > reference.count / 2)
    }

    /// `cat model.txt features.json | sha256sum | cut -c1-8`.
    @Test func identityHashesModelTxtAndFeatures() throws {
        let bundle = try ModelBundle.load(path: Self.path)
        let digest = try ModelBundleTests.sha256sum([Self.path + "/model.txt", Self.path + "/features.json"])
        #expect(bundle.identity.description == "install-lgbm@\(digest.prefix(8))")
    }

    @Test func aLeafOf1e400IsRefusedAsNonFinite() throws {
        let path = try TestSupport.copyOfBundle(from: Self.path) { name, data in
            guard name == "model.txt" else { return }
            var text = String(decoding: data, as: UTF8.self)
            let line = try #require(text.range(of: "\nleaf_value="))
            text.replaceSubrange(line, with: "\nleaf_value=1e400 ")
            // The first value is now "1e400 <old first value>": drop the old one.
            let start = text.range(of: "\nleaf_value=1e400 ")!.upperBound
            let end = text[start...].firstIndex(where: { $0 == " " || $0 == "\n" })!
            text.removeSubrange(start...end)
            data = Data(text.utf8)
        }
        let error = try #require(loadError(path))
        #expect(error.code == .nonFinite, "\(error)")
        #expect(error.description.contains("model.txt"), "\(error)")
        #expect(!error.description.contains("model.json"), "\(error)")
    }

    @Test func aReferenceProbabilityOneULPOffIsRefused() throws {
        let path = try TestSupport.copyOfBundle(from: Self.path) { name, data in
            guard name == "reference.jsonl" else { return }
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            var record = try #require(try JSONSerialization.jsonObject(with: Data(lines[17].utf8)) as? [String: Any])
            record["p_bits"] = (record["p_bits"] as! NSNumber).uint32Value + 1
            lines[17] = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
            data = Data(lines.joined(separator: "\n").utf8)
        }
        let error = try #require(loadError(path))
        #expect(error.code == .referenceMismatch, "\(error)")
        #expect(error.description.contains("reference event 18 "), "\(error)")
        #expect(error.description.contains("LightGBM gave p="), "\(error)")
        #expect(error.description.contains("model.txt and features.json"), "\(error)")
    }

    @Test func aFolderHoldingBothModelsIsRefused() throws {
        let path = try TestSupport.copyOfBundle(from: Self.path)
        try FileManager.default.copyItem(atPath: TestSupport.bundlePath + "/model.json", toPath: path + "/model.json")
        let error = try #require(loadError(path))
        #expect(error.code == .invalidModel)
        #expect(error.description.contains("both model.json and model.txt"), "\(error)")
    }

    /// LightGBM's feature_names= line must name features.json's features, in order.
    @Test func renamedFeaturesAreASpecMismatchNamingModelTxt() throws {
        let bundle = try ModelBundle.load(path: Self.path)
        let first = bundle.spec.featureNames[0], second = bundle.spec.featureNames[1]
        let path = try TestSupport.copyOfBundle(from: Self.path) { name, data in
            guard name == "model.txt" else { return }
            let text = String(decoding: data, as: UTF8.self)
            data = Data(text.replacingOccurrences(of: "feature_names=\(first) \(second) ", with: "feature_names=\(second) \(first) ").utf8)
        }
        let error = try #require(loadError(path))
        #expect(error.code == .specMismatch, "\(error)")
        #expect(error.description.contains("feature 0 is '\(second)' in model.txt but '\(first)' in features.json"), "\(error)")
    }

    /// A categorical feature whose LightGBM categories are not codes features.json's vocabulary
    /// produces (here campaign with code 9999) is a spec mismatch, even without reference events.
    @Test func categoriesOutsideTheVocabularyAreASpecMismatch() throws {
        let bundle = try ModelBundle.load(path: Self.path)
        let feature = bundle.spec.features[0]
        try #require(feature.isCategorical)
        let path = try TestSupport.copyOfBundle(from: Self.path) { name, data in
            guard name == "model.txt" else { return }
            let text = String(decoding: data, as: UTF8.self)
            try #require(text.contains("\nfeature_infos=-1:"))
            data = Data(text.replacingOccurrences(of: "\nfeature_infos=-1:", with: "\nfeature_infos=-1:9999:").utf8)
        }
        try FileManager.default.removeItem(atPath: path + "/reference.jsonl")
        let error = try #require(loadError(path))
        #expect(error.code == .specMismatch, "\(error)")
        #expect(error.description.contains("categorical feature 0 '\(feature.name)' has category 9999 in model.txt"), "\(error)")
    }
}
