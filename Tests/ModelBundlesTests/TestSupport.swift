import Foundation
import Testing

/// Paths shared by the suites.
enum TestSupport {
    /// The repository root (tests read the committed bundles and fixtures from it).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let bundlePath = root.appendingPathComponent("models/install-v1").path
    /// The LightGBM bundle (model.txt), written by Fixtures/make_lightgbm_bundle.py.
    static let lightGBMBundlePath = root.appendingPathComponent("Tests/ModelBundlesTests/Fixtures/install-lgbm").path
    /// The featurizer parity fixture (written by models/train/fixtures.py), shared with FeaturesTests.
    static let parityFixture = root.appendingPathComponent("Tests/FeaturesTests/Fixtures/parity.jsonl")

    static func jsonLines(_ url: URL) throws -> [[String: Any]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }
    }

    /// A copy of the committed bundle in a fresh folder, each file passed through `edit` (by name).
    static func copyOfBundle(
        from bundlePath: String = bundlePath, editing edit: (String, inout Data) throws -> Void = { _, _ in }
    ) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let source = URL(fileURLWithPath: bundlePath)
        for name in try FileManager.default.contentsOfDirectory(atPath: bundlePath) {
            var data = try Data(contentsOf: source.appendingPathComponent(name))
            try edit(name, &data)
            try data.write(to: folder.appendingPathComponent(name))
        }
        return folder.path
    }
}

/// A small deterministic generator for tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
