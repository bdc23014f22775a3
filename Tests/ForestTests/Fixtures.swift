import Foundation
@testable import Forest

/// One golden case written by `Fixtures/generate_fixtures.py` with XGBoost 3.2.0.
struct GoldenCase: Decodable, Sendable, CustomStringConvertible {
    let name: String
    let models: [String]
    let objective: String
    let featureCount: Int
    let rows: [[UInt32]]
    let margins: [[UInt32]]
    let predictions: [[UInt32]]
    let leaves: [[Int32]?]
    /// `predict(pred_contribs=True)` per row (outputs × (features + 1), flattened), nil for rows
    /// XGBoost's DMatrix cannot hold (±inf).
    let contribs: [[UInt32]?]

    var description: String { name }

    enum CodingKeys: String, CodingKey {
        case name, models, objective, rows, margins, predictions, leaves, contribs
        case featureCount = "feature_count"
    }

    /// All rows, row-major, as Float32.
    var flatRows: [Float] { rows.flatMap { $0.map(Float.init(bitPattern:)) } }

    static let all: [GoldenCase] = {
        let folder = Fixtures.folder
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".expected.json") }.sorted().compactMap { file in
            guard let data = try? Data(contentsOf: folder.appendingPathComponent(file)) else { return nil }
            return try? JSONDecoder().decode(GoldenCase.self, from: data)
        }
    }()

    /// Every (case, model file) pair: the same expectations hold for the .json and .ubj files.
    static let modelFiles: [GoldenModel] = all.flatMap { golden in golden.models.map { GoldenModel(golden: golden, file: $0) } }
}

struct GoldenModel: CustomStringConvertible, Sendable {
    let golden: GoldenCase
    let file: String
    var description: String { file }
    var url: URL { Fixtures.folder.appendingPathComponent(file) }
}

enum Fixtures {
    static let folder: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func bytes(_ file: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: folder.appendingPathComponent(file)))
    }

    static func jsonObject(_ file: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(file))) as! [String: Any]
    }
}

/// Distance in units in the last place between two floats of the same sign (NaN-aware).
func ulpDistance(_ a: Float, _ b: Float) -> UInt32 {
    if a.isNaN && b.isNaN { return 0 }
    if a == b { return 0 }
    let orderedA = a.sign == .minus ? 0x8000_0000 &- (a.bitPattern & 0x7FFF_FFFF) : 0x8000_0000 &+ a.bitPattern
    let orderedB = b.sign == .minus ? 0x8000_0000 &- (b.bitPattern & 0x7FFF_FFFF) : 0x8000_0000 &+ b.bitPattern
    return orderedA > orderedB ? orderedA - orderedB : orderedB - orderedA
}
