import Foundation
import Testing

@testable import Features

/// Paths and fixtures shared by the suites.
enum TestSupport {
    /// The repository root (tests read the committed bundle and test data from it).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let bundlePath = root.appendingPathComponent("models/install-v1").path
    static let testDataPath = root.appendingPathComponent("simulator/data/test_data.csv.gz").path

    static func fixture(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
    }

    static func jsonLines(_ name: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: try fixture(name), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }
    }

    static let spec: FeatureSpec = {
        try! FeatureSpec.load(path: bundlePath + "/features.json")
    }()

    /// A valid event in the DESIGN.md schema.
    static let sampleEvent = #"{"id":"5c36658fb58fad351175f0b6","timestamp":"2024-03-01T00:00:18.167+00:00","campaignId":"59687f0d896a6b0e5ce6ea15","platform":"ios","softwareVersion":"11.4.1","sourceGameId":1373094,"country":"US","startCount":25,"viewCount":24,"clickCount":2,"installCount":1,"lastStart":"2024-02-28T21:03:11.000+00:00","startCount1d":3,"startCount7d":11,"connectionType":"wifi","deviceType":"iPhone8,1"}"#
}

extension Array where Element == UInt8 {
    init(_ string: String) { self = Array(string.utf8) }
}
