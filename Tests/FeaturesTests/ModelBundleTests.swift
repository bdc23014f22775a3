import Foundation
import Testing

@testable import Features

@Suite struct ModelBundleTests {
    @Test func loadsTheCommittedBundle() throws {
        let bundle = try ModelBundle.load(path: TestSupport.bundlePath)
        #expect(bundle.name == "install-v1")
        #expect(bundle.model.featureCount == bundle.spec.features.count)
        #expect(bundle.spec == TestSupport.spec)
        let card = try #require(bundle.card)
        #expect(card.xgboostVersion == "3.2.0")
        let auc = try #require(card.validationAUC)
        #expect(auc > 0.75 && auc < 0.85)
        let (mean, actual) = (try #require(card.meanPredicted), try #require(card.actualRate))
        #expect(abs(mean / actual - 1) < 0.1)
    }

    /// A copy of the committed bundle with `features.json` rewritten by `edit`.
    func bundle(editingSpec edit: (inout [String: Any]) -> Void) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let source = URL(fileURLWithPath: TestSupport.bundlePath)
        try FileManager.default.copyItem(at: source.appendingPathComponent("model.json"), to: folder.appendingPathComponent("model.json"))
        var spec = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("features.json"))) as? [String: Any])
        edit(&spec)
        try JSONSerialization.data(withJSONObject: spec).write(to: folder.appendingPathComponent("features.json"))
        return folder.path
    }

    func loadError(_ path: String) -> FeatureError? {
        do {
            _ = try ModelBundle.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    @Test func rejectsASpecWithAFeatureMissing() throws {
        let path = try bundle { spec in spec["features"] = (spec["features"] as! [Any]).dropLast() as [Any] }
        let error = try #require(loadError(path))
        #expect(error.code == .invalidBundle)
        #expect(error.description.hasSuffix("model.json has 19 features, features.json has 18"))
    }


    @Test func rejectsRenamedAndRetypedFeatures() throws {
        let renamed = try bundle { spec in
            var features = spec["features"] as! [[String: Any]]
            features[7]["name"] = "starts"
            spec["features"] = features
        }
        #expect(loadError(renamed)?.description.hasSuffix("feature 7 is 'start_count' in model.json but 'starts' in features.json") == true)
        let retyped = try bundle { spec in
            var features = spec["features"] as! [[String: Any]]
            features[2] = ["name": "platform", "transform": "number", "field": "platformCode"]
            spec["features"] = features
        }
        #expect(loadError(retyped)?.description.hasSuffix("feature 2 'platform' is categorical in model.json but numeric in features.json") == true)
    }

    @Test func reportsMissingPartsInOneLine() throws {
        #expect(loadError("/nonexistent/bundle")?.description
            == "invalid model bundle: '/nonexistent/bundle' is not a folder (a bundle holds model.json, features.json, card.json)")
        let broken = try bundle { spec in spec["features"] = [["name": "x", "transform": "cube", "field": "x"]] }
        let error = try #require(loadError(broken))
        #expect(error.description.contains("unknown transform 'cube'"))
        #expect(!error.description.contains("\n"))
    }
}
