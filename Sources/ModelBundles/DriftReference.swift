import Features

/// The training-set histograms of a model card (`drift_reference` in `card.json`), against which
/// `scorer run` measures feature drift (see models/train/drift.py, which writes them).
///
/// Each tracked feature has cells: its bins (numeric: `edges.count + 1` bins, bin i holding the
/// values with exactly i edges <= value; categorical: one per listed category code, then one for
/// every other code, including codes out of range), then one for missing values. The expected
/// shares of all cells sum to 1.
public struct DriftReference: Sendable, Equatable {
    public struct Feature: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// Ascending bin edges (Float32, as the featurizer's rows hold values).
            case numeric(edges: [Float])
            /// The category codes with a cell of their own (ascending, each in 0 ..< `codeCount`,
            /// the vocabulary plus "other"); every other code shares the cell after them.
            case categorical(codes: [Int], codeCount: Int)
        }

        public let name: String
        /// The feature's column in the featurized rows.
        public let column: Int
        public let kind: Kind
        /// Expected share of each cell: the bins, then missing.
        public let expected: [Double]

        public init(name: String, column: Int, kind: Kind, expected: [Double]) {
            self.name = name
            self.column = column
            self.kind = kind
            self.expected = expected
        }

        /// Cells: bins (or categories) plus one for missing values.
        public var cellCount: Int { expected.count }
        public var missingShare: Double { expected[expected.count - 1] }
    }

    public let features: [Feature]
    /// The floor both shares get in the PSI sum, so an empty cell stays finite.
    public let psiFloor: Double

    public init(features: [Feature], psiFloor: Double = 1e-4) {
        self.features = features
        self.psiFloor = psiFloor
    }

    /// Reads the card's `drift_reference` object and matches it to the feature spec.
    ///
    /// - Throws: ``BundleError`` (`.invalidCard`) naming the feature when the reference does not
    ///   fit the spec (unknown name, wrong category count, edges not ascending, shares not summing to 1).
    static func parse(_ object: [String: Any], spec: FeatureSpec, path: String) throws(BundleError) -> DriftReference {
        func fail(_ message: String) -> BundleError { BundleError(.invalidCard, "\(path): drift_reference: \(message)") }
        guard let entries = object["features"] as? [[String: Any]] else { throw fail("'features' is not a list of objects") }
        let floor = (object["psi_floor"] as? Double) ?? 1e-4
        var features: [Feature] = []
        for entry in entries {
            guard let name = entry["name"] as? String else { throw fail("a feature without a name") }
            guard let shares = (entry["shares"] as? [Any])?.compactMap(number),
                  let missing = entry["missing_share"].flatMap(number), !shares.isEmpty
            else { throw fail("'\(name)' needs 'shares' (numbers) and 'missing_share'") }
            guard let column = spec.features.firstIndex(where: { $0.name == name }) else { throw fail("'\(name)' is not a feature of features.json") }
            let kind: Feature.Kind
            switch entry["kind"] as? String {
            case "numeric":
                guard let edges = (entry["edges"] as? [Any])?.compactMap(number).map(Float.init) else {
                    throw fail("'\(name)' needs 'edges'")
                }
                guard shares.count == edges.count + 1 else { throw fail("'\(name)' has \(edges.count) edges but \(shares.count) shares") }
                guard zip(edges, edges.dropFirst()).allSatisfy({ $0 < $1 }), edges.allSatisfy(\.isFinite) else {
                    throw fail("'\(name)' edges are not finite and ascending")
                }
                kind = .numeric(edges: edges)
            case "categorical":
                guard let categories = categoryCount(spec.features[column].transform) else {
                    throw fail("'\(name)' is not a categorical feature in features.json")
                }
                guard let codes = (entry["categories"] as? [Any])?.compactMap({ $0 as? Int }) else {
                    throw fail("'\(name)' needs 'categories' (category codes)")
                }
                guard zip(codes, codes.dropFirst()).allSatisfy({ $0 < $1 }), codes.allSatisfy({ (0...categories).contains($0) }) else {
                    throw fail("'\(name)' categories must be ascending codes within 0...\(categories) (features.json's categories + other)")
                }
                guard shares.count == codes.count + 1 else {
                    throw fail("'\(name)' has \(codes.count) categories but \(shares.count) shares (one per category, then the rest)")
                }
                kind = .categorical(codes: codes, codeCount: categories + 1)
            default:
                throw fail("'\(name)' kind must be 'numeric' or 'categorical'")
            }
            let expected = shares + [missing]
            let total = expected.reduce(0, +)
            guard expected.allSatisfy({ $0 >= 0 }), abs(total - 1) < 1e-6 else {
                throw fail("'\(name)' shares sum to \(total), not 1")
            }
            features.append(Feature(name: name, column: column, kind: kind, expected: expected))
        }
        return DriftReference(features: features, psiFloor: floor)
    }
}

private func number(_ value: Any) -> Double? {
    (value as? Double) ?? (value as? Int).map(Double.init)
}

private func categoryCount(_ transform: FeatureSpec.Transform) -> Int? {
    switch transform {
    case .stringCategory(_, let vocabulary): vocabulary.count
    case .numberCategory(_, let vocabulary): vocabulary.count
    default: nil
    }
}
