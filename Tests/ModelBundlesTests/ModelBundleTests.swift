import Foundation
import Testing

@testable import Features
@testable import ModelBundles

@Suite struct ModelBundleTests {
    @Test func loadsTheCommittedBundleAndReplaysItsReferenceEvents() throws {
        let bundle = try ModelBundle.load(path: TestSupport.bundlePath)
        #expect(bundle.name == "install-v1")
        #expect(bundle.model.featureCount == bundle.spec.features.count)
        #expect(bundle.referenceEventCount == 300)
        #expect(bundle.warnings.isEmpty)
        let card = try #require(bundle.card)
        #expect(card.xgboostVersion == "3.2.0")
        let auc = try #require(card.validationAUC)
        #expect(auc > 0.75 && auc < 0.85)
        let (mean, actual) = (try #require(card.meanPredicted), try #require(card.actualRate))
        #expect(abs(mean / actual - 1) < 0.1)
    }

    /// `name@hash`: `cat model.json features.json | sha256sum | cut -c1-8` names the content.
    @Test func identityIsTheNameAndAContentHash() throws {
        let bundle = try ModelBundle.load(path: TestSupport.bundlePath)
        #expect(bundle.identity.name == "install-v1")
        #expect(bundle.identity.description == "install-v1@\(bundle.identity.hash)")
        let digest = try Self.sha256sum([
            TestSupport.bundlePath + "/model.json", TestSupport.bundlePath + "/features.json",
        ])
        #expect(bundle.identity.hash == String(digest.prefix(8)))

        // Same name, same content: same identity. Same name, other content: another identity.
        let copy = try ModelBundle.load(path: TestSupport.copyOfBundle())
        #expect(copy.identity == bundle.identity)
        let edited = try ModelBundle.load(path: TestSupport.copyOfBundle { name, data in
            if name == "features.json" { data.append(contentsOf: Array("\n".utf8)) }
        })
        #expect(edited.name == bundle.name)
        #expect(edited.identity != bundle.identity)
    }

    static func sha256sum(_ files: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "cat \(files.joined(separator: " ")) | sha256sum"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    func loadError(_ path: String) -> BundleError? {
        do {
            _ = try ModelBundle.load(path: path)
            return nil
        } catch {
            return error
        }
    }

    /// A copy of the bundle whose features.json is rewritten by `edit` (and without reference
    /// events, which would catch the change first, unless `keepReference`).
    func bundle(keepReference: Bool = false, editingSpec edit: @escaping (inout [String: Any]) -> Void) throws -> String {
        let path = try TestSupport.copyOfBundle { name, data in
            guard name == "features.json" else { return }
            var spec = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            edit(&spec)
            data = try JSONSerialization.data(withJSONObject: spec)
        }
        if !keepReference { try FileManager.default.removeItem(atPath: path + "/reference.jsonl") }
        return path
    }

    @Test func rejectsASpecWithAFeatureMissing() throws {
        let path = try bundle { spec in spec["features"] = (spec["features"] as! [Any]).dropLast() as [Any] }
        let error = try #require(loadError(path))
        #expect(error.code == .specMismatch)
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
        #expect(loadError(retyped)?.code == .specMismatch)
        #expect(loadError(retyped)?.description.hasSuffix("feature 2 'platform' is categorical in model.json but numeric in features.json") == true)
    }

    @Test func reportsMissingPartsInOneLine() throws {
        #expect(loadError("/nonexistent/bundle")?.code == .io)
        #expect(loadError("/nonexistent/bundle")?.description
            == "invalid model bundle: '/nonexistent/bundle' is not a folder (a bundle holds model.json or model.txt, features.json, card.json, reference.jsonl)")
        let broken = try bundle { spec in spec["features"] = [["name": "x", "transform": "cube", "field": "x"]] }
        let error = try #require(loadError(broken))
        #expect(error.code == .invalidSpec)
        #expect(error.description.contains("unknown transform 'cube'"))
        #expect(!error.description.contains("\n"))
    }

    /// Thresholds of +inf (`1e400` in the file) and leaves of ±inf are refused as such, naming the
    /// file, tree and node.
    @Test(arguments: ["threshold", "leaf"])
    func rejectsNonFiniteModels(kind: String) throws {
        var node = -1
        let path = try TestSupport.copyOfBundle { name, data in
            guard name == "model.json" else { return }
            var document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            var learner = document["learner"] as! [String: Any]
            var booster = learner["gradient_booster"] as! [String: Any]
            var model = booster["model"] as! [String: Any]
            var trees = model["trees"] as! [[String: Any]]
            let left = trees[0]["left_children"] as! [Int]
            node = kind == "threshold" ? 0 : left.firstIndex(of: -1)!
            var conditions = trees[0]["split_conditions"] as! [Double]
            conditions[node] = 424242.5
            trees[0]["split_conditions"] = conditions
            model["trees"] = trees
            booster["model"] = model
            learner["gradient_booster"] = booster
            document["learner"] = learner
            let text = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
            data = Data(text.replacingOccurrences(of: "424242.5", with: kind == "threshold" ? "1e400" : "-1e400").utf8)
        }
        let error = try #require(loadError(path))
        #expect(error.code == .nonFinite)
        #expect(error.description.contains("model.json: tree 0, node \(node): "), "\(error)")
        #expect(error.description.hasSuffix(kind == "threshold" ? "split threshold inf is not finite" : "leaf value -inf is not finite"), "\(error)")
    }

    /// A model that is valid on its own but no longer gives XGBoost's probabilities (here one
    /// vocabulary entry of features.json changed) is refused, naming the first differing event.
    @Test func rejectsABundleThatDoesNotReproduceItsReferenceEvents() throws {
        let path = try bundle(keepReference: true) { spec in
            var features = spec["features"] as! [[String: Any]]
            let index = features.firstIndex { $0["name"] as? String == "country" }!
            var vocabulary = features[index]["vocabulary"] as! [Any]
            vocabulary.swapAt(0, 1)
            features[index]["vocabulary"] = vocabulary
            spec["features"] = features
        }
        let error = try #require(loadError(path))
        #expect(error.code == .referenceMismatch)
        #expect(error.description.contains("reference event "))
        #expect(error.description.contains("XGBoost gave p="))
        #expect(!error.description.contains("\n"))

        // The same with the reference's own record edited: one differing probability is enough.
        let tampered = try TestSupport.copyOfBundle { name, data in
            guard name == "reference.jsonl" else { return }
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
            var record = try #require(try JSONSerialization.jsonObject(with: Data(lines[41].utf8)) as? [String: Any])
            record["p_bits"] = (record["p_bits"] as! NSNumber).uint32Value + 1
            lines[41] = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
            data = Data(lines.joined(separator: "\n").utf8)
        }
        let second = try #require(loadError(tampered))
        #expect(second.code == .referenceMismatch)
        #expect(second.description.contains("reference event 42 "), "\(second)")
    }

    /// A model whose outputs leave [0, 1] (here the same trees without the logistic link) is
    /// refused before a single event is scored.
    @Test func rejectsOutputsOutsideTheUnitInterval() throws {
        let path = try TestSupport.copyOfBundle { name, data in
            guard name == "model.json" else { return }
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains("\"binary:logistic\""))
            data = Data(text.replacingOccurrences(of: "\"binary:logistic\"", with: "\"reg:squarederror\"").utf8)
        }
        let error = try #require(loadError(path))
        #expect(error.code == .outOfRange)
        #expect(error.description.contains("outside [0, 1]"))
    }

    @Test func aBundleWithoutReferenceEventsLoadsWithAWarning() throws {
        let path = try TestSupport.copyOfBundle()
        try FileManager.default.removeItem(atPath: path + "/reference.jsonl")
        let bundle = try ModelBundle.load(path: path)
        #expect(bundle.referenceEventCount == 0)
        #expect(bundle.warnings.count == 1)
        #expect(bundle.warnings.first?.contains("no reference.jsonl") == true)
    }

    @Test func malformedReferenceFilesAreRefused() throws {
        let path = try TestSupport.copyOfBundle { name, data in
            if name == "reference.jsonl" { data = Data("{\"id\":\"x\",\"raw\":\"{}\"}\n".utf8) }
        }
        let error = try #require(loadError(path))
        #expect(error.code == .invalidReference)
        #expect(error.description.contains("line 1"))
    }
}
