import Foundation
import Testing

@testable import Features

@Suite struct PredictionEncoderTests {
    @Test func writesTheContractFieldsInOrder() throws {
        var encoder = PredictionEncoder(modelName: "install-v1")
        let event = Array(#"{"id":"ab\"c","x":1}"#.utf8)
        let info = EventInfo(idStart: 7, idEnd: 12, idEscaped: true, timestampMillis: nil)
        let bytes = event.withUnsafeBytes {
            encoder.encode(event: $0, info: info, p: 0.0123, scoredAt: 1_700_000_000_123, eventTimestamp: 1_699_999_999_000)
        }
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"id":"ab\"c","p":0.0123,"model":"install-v1","scored_at":1700000000123,"event_ts":1699999999000}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["id"] as? String == "ab\"c")
    }

    @Test func optionalFieldsAndNulls() {
        var encoder = PredictionEncoder(modelName: "m\"1")
        let bytes = encoder.encode(id: "a\nb", p: .nan, scoredAt: -5, eventTimestamp: nil, shadow: 1e-5, variant: "canary")
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"id":"a\nb","p":null,"model":"m\"1","scored_at":-5,"event_ts":null,"p_shadow":1e-05,"variant":"canary"}"#)
    }

    @Test func probabilitiesRoundTripFloat32() throws {
        var encoder = PredictionEncoder(modelName: "m")
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20_000 {
            let p = Float(bitPattern: UInt32.random(in: 0...Float(1).bitPattern, using: &rng))
            let bytes = encoder.encode(id: "x", p: p, scoredAt: 0, eventTimestamp: 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            let text = String(decoding: bytes, as: UTF8.self)
            let lexeme = text.split(separator: ",")[1].dropFirst(4)
            #expect(Float(String(lexeme)) == p, "\(text)")
            #expect(object["p"] != nil)
        }
    }
}
