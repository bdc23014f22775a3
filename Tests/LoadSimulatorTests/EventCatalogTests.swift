import Foundation
import Testing
@testable import LoadSimulator

/// Impression events like the data set's, with distinct ids and two date fields.
func makeEvents(_ count: Int, firstDay: Int = 1) -> [[UInt8]] {
    (0..<count).map { index in
        let day = firstDay + index % 3
        let json = """
            {"id":"ev\(index)","timestamp":"2024-03-0\(day)T10:00:\(String(format: "%02d", index % 60)).167+00:00",\
            "campaignId":"c\(index % 7)","platform":"ios","country":"US","startCount":\(index % 40),\
            "lastStart":"2024-02-28T21:03:11.000+00:00","nested":{"x":[1,"2024-01-01"]}}
            """
        return Array(json.utf8)
    }
}

@Suite struct EventCatalogTests {
    @Test func passZeroSendsEventsUnchangedKeyedByID() throws {
        let events = makeEvents(5)
        let catalog = try EventCatalog(events: events)
        var value: [UInt8] = []
        var key: [UInt8] = []
        for index in 0..<5 {
            catalog.render(index: index, pass: 0, value: &value, key: &key)
            #expect(value == events[index])
            #expect(String(decoding: key, as: UTF8.self) == "ev\(index)")
        }
    }

    @Test func laterPassesGetFreshIDsAndDatesShiftedByWholePeriods() throws {
        // Timestamps span 2024-03-01 ... 2024-03-03: a period of 3 days.
        let catalog = try EventCatalog(events: makeEvents(6))
        #expect(catalog.periodDays == 3)
        var value: [UInt8] = []
        var key: [UInt8] = []
        catalog.render(index: 4, pass: 2, value: &value, key: &key)
        #expect(String(decoding: key, as: UTF8.self) == "ev4~2")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])
        #expect(object["id"] as? String == "ev4~2")
        // Event 4 is on March 2nd; two passes move it 6 days on. Time of day and offset are untouched.
        #expect(object["timestamp"] as? String == "2024-03-08T10:00:04.167+00:00")
        // Feb 28 2024 + 6 days crosses the leap day.
        #expect(object["lastStart"] as? String == "2024-03-05T21:03:11.000+00:00")
        // Nested values are not top-level dates and stay as they are.
        let nested = try #require(object["nested"] as? [String: Any])
        #expect((nested["x"] as? [Any])?.last as? String == "2024-01-01")
        #expect(object["startCount"] as? Int == 4)
    }

    @Test func locateFindsTheEventAndPassOfAnIDItProduced() throws {
        let catalog = try EventCatalog(events: makeEvents(10))
        var value: [UInt8] = []
        var key: [UInt8] = []
        for (index, pass) in [(0, 0), (9, 0), (3, 1), (7, 12)] {
            catalog.render(index: index, pass: pass, value: &value, key: &key)
            let location = key.withUnsafeBufferPointer { catalog.locate(id: $0) }
            #expect(location?.index == index && location?.pass == pass)
        }
        for unknown in ["ev10", "ev3~0", "ev3~", "other", "ev3~x"] {
            let location = Array(unknown.utf8).withUnsafeBufferPointer { catalog.locate(id: $0) }
            #expect(location == nil, "\(unknown)")
        }
    }

    @Test func repeatedIDsAreRejectedNamingBothEvents() {
        var events = makeEvents(4)
        events.append(events[1])
        #expect {
            try EventCatalog(events: events)
        } throws: { error in
            let error = error as? LoadSimulatorError
            return error?.code == .badSource && error?.message.contains("events 2 and 5") == true
        }
    }

    @Test func eventsWithoutAnIDAreSentButUntracked() throws {
        let events = [Array(#"{"id":"a"}"#.utf8), Array("not json".utf8), Array(#"{"id":""}"#.utf8), Array(#"{"id":7}"#.utf8)]
        let catalog = try EventCatalog(events: events)
        #expect(catalog.untrackedCount == 3)
        #expect(catalog.isTracked(0))
        #expect(!catalog.isTracked(1))
        var value: [UInt8] = []
        var key: [UInt8] = []
        catalog.render(index: 1, pass: 3, value: &value, key: &key)
        #expect(value == Array("not json".utf8))
        #expect(key.isEmpty)
    }

    @Test func jsonLinesFilesSkipBlankLinesAndCarriageReturns() {
        let text = "{\"id\":\"a\"}\r\n\n  \n{\"id\":\"b\"}"
        let lines = EventCatalog.splitLines(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines == ["{\"id\":\"a\"}", "{\"id\":\"b\"}"])
    }

    @Test func scannerReadsIDsAndIntegersAndRejectsNonObjects() {
        let prediction = Array(#"{"p": 0.25, "id" : "x\"y", "event_ts": 1700000000123, "tags":{"id":"inner"}}"#.utf8)
        prediction.withUnsafeBufferPointer { bytes in
            let range = JSONMemberScanner.stringValue(named: Array("id".utf8), in: bytes)
            #expect(range.map { String(decoding: bytes[$0], as: UTF8.self) } == #"x\"y"#)
            #expect(JSONMemberScanner.integerValue(named: Array("event_ts".utf8), in: bytes) == 1_700_000_000_123)
            #expect(JSONMemberScanner.integerValue(named: Array("p".utf8), in: bytes) == nil)
        }
        for bad in ["", "[1]", "{\"id\":\"a\"", "{\"id\" \"a\"}", "{\"id\":\"a\"} x"] {
            let members = Array(bad.utf8).withUnsafeBufferPointer { JSONMemberScanner.members(of: $0) }
            #expect(members == nil, "\(bad)")
        }
    }

    @Test(arguments: [(1970, 1, 1, 0), (2024, 2, 29, 19_782), (2000, 3, 1, 11_017), (1969, 12, 31, -1)])
    func civilDaysRoundTrip(year: Int, month: Int, day: Int, expected: Int) {
        let civil = CivilDay(year: year, month: month, day: day)
        #expect(civil.daysSinceEpoch == expected)
        #expect(civil.components == (year, month, day))
    }
}

@Suite struct EventSourceTests {
    /// The repository's test data: every row becomes a tracked JSON event keyed by its id.
    @Test func testDataLoadsAsTrackedJSONEvents() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("simulator/data/test_data.csv.gz").path
        let catalog = try EventSource.load(path: path, limit: 2000)
        #expect(catalog.count == 2000)
        #expect(catalog.untrackedCount == 0)
        var value: [UInt8] = []
        var key: [UInt8] = []
        catalog.render(index: 0, pass: 1, value: &value, key: &key)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])
        #expect(object["id"] as? String == String(decoding: key, as: UTF8.self))
        #expect((object["id"] as? String)?.hasSuffix("~1") == true)
        #expect(object["install"] == nil)
    }

    @Test func unreadableSourcesNameTheFile() {
        #expect {
            try EventSource.load(path: "/nonexistent/events.jsonl")
        } throws: { error in
            (error as? LoadSimulatorError)?.message.contains("/nonexistent/events.jsonl") == true
        }
        #expect {
            try EventSource.load(path: "/nonexistent/data.csv.gz")
        } throws: { error in
            (error as? LoadSimulatorError)?.message.contains("/nonexistent/data.csv.gz") == true
        }
    }
}

@Suite struct FieldDriftTests {
    @Test func parsesAddAndMultiplyAndRefusesUnknownFields() throws {
        #expect(try FieldDrift(parsing: "startCount7d:+10") == FieldDrift(field: "startCount7d", shift: .add(10)))
        #expect(try FieldDrift(parsing: "viewCount:-2.5") == FieldDrift(field: "viewCount", shift: .add(-2.5)))
        #expect(try FieldDrift(parsing: "clickCount:*3") == FieldDrift(field: "clickCount", shift: .multiply(3)))
        #expect(try FieldDrift(parsing: "clickCount:x0.5") == FieldDrift(field: "clickCount", shift: .multiply(0.5)))
        for bad in ["country:+1", "startcount:+1", "startCount", "startCount:10", "startCount:+", "startCount:*nan", "startCount:+1e999"] {
            #expect(throws: LoadSimulatorError.self, "\(bad)") { try FieldDrift(parsing: bad) }
        }
        do {
            _ = try FieldDrift(parsing: "nosuch:+1")
        } catch {
            #expect(error.message.contains("unknown field 'nosuch'") && !error.message.contains("\n"))
        }
    }

    @Test func shiftsOnlyTheNamedNumericFields() throws {
        let event = Array(#"{"id":"a","startCount":25,"startCount7d":9,"viewCount":null,"country":"US","clickCount":1.5}"#.utf8)
        let drifts = [
            try FieldDrift(parsing: "startCount7d:+10"), try FieldDrift(parsing: "viewCount:*2"), try FieldDrift(parsing: "clickCount:*3"),
        ]
        let shifted = FieldDrift.apply(drifts, to: event[...])
        #expect(String(decoding: shifted, as: UTF8.self)
            == #"{"id":"a","startCount":25,"startCount7d":19,"viewCount":null,"country":"US","clickCount":4.5}"#)
        // Not an object: sent as it is.
        #expect(FieldDrift.apply(drifts, to: Array("[1,2]".utf8)[...]) == Array("[1,2]".utf8))
    }

    @Test func aDriftedCatalogKeepsIdsAndLabels() throws {
        let events = makeEvents(4)
        let catalog = try EventCatalog(events: events, labels: [true, false, nil, true])
        let drifted = try catalog.drifted([try FieldDrift(parsing: "startCount:+100")])
        var value: [UInt8] = [], key: [UInt8] = []
        for index in 0..<4 {
            drifted.render(index: index, pass: 0, value: &value, key: &key)
            #expect(String(decoding: key, as: UTF8.self) == "ev\(index)")
            #expect(String(decoding: value, as: UTF8.self).contains("\"startCount\":\(index % 40 + 100),"))
            #expect(drifted.label(index) == catalog.label(index))
        }
    }
}
