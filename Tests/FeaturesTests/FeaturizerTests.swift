import Foundation
import Testing

@testable import Features

@Suite struct FeaturizerTests {
    let featurizer = Featurizer(spec: TestSupport.spec)

    func value(_ row: [Float], _ name: String) -> Float {
        row[TestSupport.spec.featureNames.firstIndex(of: name)!]
    }

    func failure(_ event: String) -> FeatureError? {
        do {
            _ = try featurizer.featurize(Array(event.utf8))
            return nil
        } catch {
            return error
        }
    }

    @Test func computesEveryTransformOfTheSampleEvent() throws {
        let (row, info) = try featurizer.featurize(Array(TestSupport.sampleEvent.utf8))
        #expect(row.count == TestSupport.spec.features.count)
        #expect(value(row, "start_count") == 25)
        #expect(value(row, "click_per_view") == Float(2.0 / 24.0))
        #expect(value(row, "os_major") == 11)
        #expect(value(row, "hour_utc") == 0)
        #expect(value(row, "weekday_utc") == 4)  // 2024-03-01 was a Friday
        let days = (Double(1_709_251_218_167) - Double(1_709_154_191_000)) / 86_400_000
        #expect(value(row, "days_since_last_start") == Float(days))
        #expect(value(row, "country") == Float(TestSupport.vocabulary("country").firstIndex(of: "US")!))
        #expect(info.timestampMillis == 1_709_251_218_167)
        #expect(Array(TestSupport.sampleEvent.utf8)[info.idStart..<info.idEnd].elementsEqual("5c36658fb58fad351175f0b6".utf8))
    }

    @Test func missingNullZeroDivisorAndUnknownCategory() throws {
        let event = #"{"id":"x","viewCount":0,"clickCount":3,"country":"Atlantis","lastStart":null,"timestamp":"garbage"}"#
        let (row, info) = try featurizer.featurize(Array(event.utf8))
        #expect(value(row, "click_per_view").isNaN)  // zero divisor
        #expect(value(row, "view_count") == 0)
        #expect(value(row, "start_count").isNaN)  // absent
        #expect(value(row, "days_since_last_start").isNaN)  // null
        #expect(value(row, "hour_utc").isNaN)  // unparseable timestamp
        #expect(value(row, "country") == Float(TestSupport.vocabulary("country").count))  // "other"
        #expect(value(row, "platform").isNaN)
        #expect(info.timestampMillis == nil)
    }

    @Test(arguments: [
        ("", FeatureError.Code.notJSON, "not JSON: empty input at byte 0"),
        ("{\"id\":\"a\",}", .notJSON, "not JSON: expected a string key at byte 10"),
        ("[1,2]", .notObject, "not a JSON object: the event is an array"),
        ("\"x\"", .notObject, "not a JSON object: the event is a string"),
        ("{\"viewCount\":1}", .missingID, "missing id: field 'id' is absent"),
        ("{\"id\":null}", .missingID, "missing id: field 'id' is null"),
        ("{\"id\":\"\"}", .missingID, "missing id: field 'id' is empty"),
        ("{\"id\":7}", .wrongType, "wrong type: field 'id' must be a string, got a number"),
        ("{\"id\":\"a\",\"viewCount\":\"5\"}", .wrongType, "wrong type: field 'viewCount' must be a number, got a string"),
        ("{\"id\":\"a\",\"timestamp\":true}", .wrongType, "wrong type: field 'timestamp' must be a string, got a boolean"),
        ("{\"id\":\"a\",\"country\":{\"code\":\"US\"}}", .wrongType, "wrong type: field 'country' must be a string, got an object"),
    ])
    func malformedEventsGetTypedOneLineErrors(event: String, code: FeatureError.Code, message: String) throws {
        let error = try #require(failure(event))
        #expect(error.code == code)
        #expect(error.description == message)
    }

    @Test func lastDuplicateWinsAndEscapedKeysMatch() throws {
        let event = #"{"id":"a","country":"XX","c\u006funtry":"US","view\u0043ount":4,"clickCount":1}"#
        let (row, _) = try featurizer.featurize(Array(event.utf8))
        #expect(value(row, "country") == Float(TestSupport.vocabulary("country").firstIndex(of: "US")!))
        #expect(value(row, "click_per_view") == 0.25)
    }

    @Test func unknownFieldsOfAnyShapeAreIgnored() throws {
        let event = #"{"extra":{"a":[1,{"b":null}],"c":"\"q\""},"id":"a","viewCount":2,"more":[true,false,-1.5e-3]}"#
        let (row, _) = try featurizer.featurize(Array(event.utf8))
        #expect(value(row, "view_count") == 2)
    }

    @Test func batchKeepsGoodRowsAndReportsBadOnes() {
        var batch = FeatureBatch(featureCount: featurizer.featureCount, capacity: 4)
        let events = [TestSupport.sampleEvent, "{\"id\":1}", #"{"id":"b","viewCount":7}"#, "nope"]
        var failures: [FeatureError.Code] = []
        for event in events {
            let bytes = Array(event.utf8)
            if case .failure(let error) = bytes.withUnsafeBytes({ batch.append($0, using: featurizer) }) {
                failures.append(error.code)
            }
        }
        #expect(batch.count == 2)
        #expect(batch.rows.count == 2 * featurizer.featureCount)
        #expect(failures == [.wrongType, .notJSON])
        #expect(batch.row(1)[batch.row(1).startIndex + TestSupport.spec.featureNames.firstIndex(of: "view_count")!] == 7)
        batch.removeAll()
        #expect(batch.count == 0 && batch.rows.isEmpty)
    }
}

extension TestSupport {
    static func vocabulary(_ feature: String) -> [String] {
        for f in spec.features where f.name == feature {
            if case .stringCategory(_, let v) = f.transform { return v }
        }
        return []
    }
}
