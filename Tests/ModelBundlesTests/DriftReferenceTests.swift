import Foundation
import Testing

@testable import ModelBundles

@Suite struct DriftReferenceTests {
    @Test func theCommittedCardsCarryAReferenceMatchedToTheirFeatures() throws {
        for name in ["install-v1", "install-v2", "install-biased"] {
            let bundle = try ModelBundle.load(path: TestSupport.root.appendingPathComponent("models/\(name)").path)
            let reference = try #require(bundle.card?.driftReference, "\(name) has no drift_reference")
            // Every feature but the two clock features, in spec order, at its own column.
            #expect(reference.features.map(\.name) == bundle.spec.featureNames.filter { $0 != "hour_utc" && $0 != "weekday_utc" })
            for feature in reference.features {
                #expect(bundle.spec.features[feature.column].name == feature.name)
                #expect(abs(feature.expected.reduce(0, +) - 1) < 1e-9)
                if case .categorical(let codes, let codeCount) = feature.kind {
                    #expect(bundle.spec.features[feature.column].isCategorical)
                    #expect(codes.count == feature.cellCount - 2 && codes.allSatisfy { $0 < codeCount })
                }
            }
        }
    }

    @Test func aCardWithoutAReferenceLoadsWithoutOne() throws {
        let path = try TestSupport.copyOfBundle { name, data in
            guard name == "card.json" else { return }
            var card = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            card["drift_reference"] = nil
            data = try JSONSerialization.data(withJSONObject: card)
        }
        #expect(try ModelBundle.load(path: path).card?.driftReference == nil)
    }

    enum Fault: String, CaseIterable {
        case unknownFeature = "not a feature of features.json"
        case sharesNotSummingToOne = "sum to"
        case edgesOutOfOrder = "ascending"
        case oneShareTooFew = "edges but"

        func apply(_ f: inout [String: Any]) {
            switch self {
            case .unknownFeature: f["name"] = "no_such_feature"
            case .sharesNotSummingToOne: f["missing_share"] = 0.5
            case .edgesOutOfOrder: f["edges"] = [3.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0]
            case .oneShareTooFew: f["shares"] = Array((f["shares"] as! [Any]).dropLast())
            }
        }
    }

    @Test(arguments: Fault.allCases)
    func aReferenceThatDoesNotFitIsRefused(fault: Fault) throws {
        let what = "\(fault)", message = fault.rawValue
        let path = try TestSupport.copyOfBundle { name, data in
            guard name == "card.json" else { return }
            var card = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            var reference = try #require(card["drift_reference"] as? [String: Any])
            var features = try #require(reference["features"] as? [[String: Any]])
            let index = try #require(features.firstIndex { $0["name"] as? String == "start_count" })
            fault.apply(&features[index])
            reference["features"] = features
            card["drift_reference"] = reference
            data = try JSONSerialization.data(withJSONObject: card)
        }
        #expect(throws: BundleError.self, "\(what)") { try ModelBundle.load(path: path) }
        do {
            _ = try ModelBundle.load(path: path)
        } catch {
            #expect(error.code == .invalidCard)
            #expect(error.description.contains(message), "\(what): \(error.description)")
        }
    }
}
