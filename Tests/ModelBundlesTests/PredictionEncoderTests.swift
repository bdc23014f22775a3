import Forest
import Foundation
import Testing

@testable import Features
@testable import ModelBundles

@Suite struct PredictionEncoderTests {
    @Test func writesTheContractFieldsInOrder() throws {
        let encoder = PredictionEncoder(model: "install-v1@3f2a9c1e")
        let event = Array(#"{"id":"ab\"c","x":1}"#.utf8)
        let info = EventInfo(idStart: 7, idEnd: 12, idEscaped: true, timestampMillis: nil)
        let bytes = event.withUnsafeBytes {
            encoder.encode(event: $0, info: info, p: 0.0123, scoredAt: 1_700_000_000_123, eventTimestamp: 1_699_999_999_000)
        }
        #expect(String(decoding: bytes, as: UTF8.self)
            == #"{"id":"ab\"c","p":0.0123,"model":"install-v1@3f2a9c1e","scored_at":1700000000123,"event_ts":1699999999000}"#)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["id"] as? String == "ab\"c")
    }

    @Test func optionalFieldsAndNulls() {
        let encoder = PredictionEncoder(model: "m\"1", canaryModel: "c@2", shadowModel: "s@3")
        let primary = encoder.encode(id: "a\nb", p: .nan, shadow: 1e-5, scoredAt: -5, eventTimestamp: nil)
        #expect(String(decoding: primary, as: UTF8.self)
            == #"{"id":"a\nb","p":null,"model":"m\"1","variant":"primary","p_shadow":1e-05,"shadow_model":"s@3","scored_at":-5,"event_ts":null}"#)
        let canary = encoder.encode(id: "x", p: 0.5, variant: .canary, shadow: .nan, scoredAt: 1, eventTimestamp: 2)
        #expect(String(decoding: canary, as: UTF8.self)
            == #"{"id":"x","p":0.5,"model":"c@2","variant":"canary","scored_at":1,"event_ts":2}"#, "a non-finite shadow p is left out")
        // Without a canary or shadow configured, neither field appears.
        let plain = PredictionEncoder(model: "m").encode(id: "x", p: 0.5, variant: .canary, shadow: 0.25, scoredAt: 1, eventTimestamp: 2)
        #expect(String(decoding: plain, as: UTF8.self) == #"{"id":"x","p":0.5,"model":"m","scored_at":1,"event_ts":2}"#)
    }

    @Test func probabilitiesRoundTripFloat32() throws {
        let encoder = PredictionEncoder(model: "m")
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

    /// The hot path (`write` into caller memory) spells exactly what `encode` returns, stays within
    /// `maxCount`, and prints integers as `String` does at every digit-count boundary.
    @Test func writingInPlaceMatchesEncodeAndStaysWithinTheBound() throws {
        let encoder = PredictionEncoder(model: "install-v1@3f2a9c1e", canaryModel: "install-v2@00000000", shadowModel: "shadow@11111111")
        var integers: [Int64] = [0, -1, .min, .max, .min + 1]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            integers += [power - 1, power, power + 1, -power, -(power - 1)]
        }
        let event = Array(#"{"x":1,"id":"e3f217b3\"d56d414f","ts":2}"#.utf8)
        let info = EventInfo(idStart: 13, idEnd: 31, idEscaped: true, timestampMillis: nil)
        var rng = SplitMix64(seed: 11)
        for value in integers {
            let p = Float(bitPattern: UInt32.random(in: 0...Float(1).bitPattern, using: &rng))
            let timestamp: Int64? = value == 0 ? nil : value
            let variant: Variant = value % 2 == 0 ? .primary : .canary
            let shadow: Float? = value % 3 == 0 ? nil : p / 2
            let expected = event.withUnsafeBytes {
                encoder.encode(event: $0, info: info, p: p, variant: variant, shadow: shadow, scoredAt: value, eventTimestamp: timestamp)
            }
            let bound = encoder.maxCount(idLength: info.idEnd - info.idStart)
            var buffer = [UInt8](repeating: 0xEE, count: bound + 8)
            let written = event.withUnsafeBytes { bytes in
                buffer.withUnsafeMutableBufferPointer {
                    encoder.write(
                        event: bytes, info: info, p: p, variant: variant, shadow: shadow, scoredAt: value, eventTimestamp: timestamp,
                        to: $0.baseAddress!)
                }
            }
            #expect(written <= bound)
            #expect(Array(buffer[0..<written]) == expected)
            #expect(buffer[written...].allSatisfy { $0 == 0xEE }, "wrote past its count")
            let text = String(decoding: expected, as: UTF8.self)
            #expect(text.contains(#","scored_at":\#(value),"#), "\(text)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(expected)) as? [String: Any])
            #expect(object["id"] as? String == #"e3f217b3"d56d414f"#)
        }
    }
}

@Suite struct ReasonsEncoderTests {
    /// The K largest |contribution| first, zeros skipped, names escaped, missing values as null,
    /// and the array placed before scored_at in the prediction.
    @Test func ranksFormatsAndPlacesReasons() throws {
        let bundle = try ModelBundle.load(path: TestSupport.bundlePath)
        let model = bundle.model
        let names = model.featureNames
        try #require(model.featureCount >= 5 && names.count == model.featureCount)
        let encoder = ReasonsEncoder(model: model, top: 3)
        var row = [Float](repeating: 1.5, count: model.featureCount)
        row[2] = .nan
        var contributions = [Float](repeating: 0, count: model.featureCount)
        contributions[0] = 0.25
        contributions[2] = -0.75
        contributions[4] = 0.5
        contributions[1] = -0.125
        var indices: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: encoder.maxCount)
        let count = row.withUnsafeBufferPointer { r in
            contributions.withUnsafeBufferPointer { c in
                buffer.withUnsafeMutableBufferPointer { encoder.write(row: r, contributions: c, indices: &indices, to: $0.baseAddress!) }
            }
        }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        #expect(text == #"[{"feature":"\#(names[2])","value":null,"contribution":-0.75},{"feature":"\#(names[4])","value":1.5,"contribution":0.5},{"feature":"\#(names[0])","value":1.5,"contribution":0.25}]"#)
        #expect(count <= encoder.maxCount)

        let prediction = PredictionEncoder(model: "m")
        let event = Array(#"{"id":"e1"}"#.utf8)
        let info = EventInfo(idStart: 7, idEnd: 9, idEscaped: false, timestampMillis: 5)
        var out = [UInt8](repeating: 0, count: prediction.maxCount(idLength: 2, reasonsCount: count))
        let written = event.withUnsafeBytes { e in
            buffer.withUnsafeBytes { r in
                out.withUnsafeMutableBufferPointer {
                    prediction.write(event: e, info: info, p: 0.5, reasons: UnsafeRawBufferPointer(rebasing: r[0..<count]), scoredAt: 7,
                                     eventTimestamp: 5, to: $0.baseAddress!)
                }
            }
        }
        #expect(String(decoding: out[0..<written], as: UTF8.self) == #"{"id":"e1","p":0.5,"model":"m","reasons":"# + text + #","scored_at":7,"event_ts":5}"#)
    }
}
