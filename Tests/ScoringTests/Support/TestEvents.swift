import Foundation

/// One input message for the tests: key and raw value bytes.
struct TestEvent: Sendable {
    var key: String?
    var value: [UInt8]?
}

/// Deterministic impression events in the DESIGN.md contract, and malformed ones of each kind.
enum TestEvents {
    /// `count` valid events with ids `<prefix>-<n>`, varied enough to exercise every feature
    /// (categories in and out of the vocabulary, missing and null fields, versions, timestamps).
    static func valid(_ count: Int, prefix: String = "ev", seed: UInt64 = 1) -> [TestEvent] {
        var random = SplitMix(seed: seed)
        let campaigns = ["faae9cd3044de07d2c17d454", "b4f778988fccb95f73d2d910", "7028f7ceda784763f013fbe3", "1cc26ed9f5de9248412f697c", "000000000000000000000000"]
        let countries = ["US", "IN", "BR", "JP", "DE", "NG", "ZZ"]
        let platforms = ["ios", "android"]
        let versions = ["11.4.1", "10", "8.1.0", "17.2", "garbage"]
        let connections = ["wifi", "cellular"]
        let devices = ["iPhone8,1", "moto g27", "CPH34", "SM-A505F"]
        return (0..<count).map { n in
            let id = "\(prefix)-\(n)"
            let day = 1 + random.next(28)
            let hour = random.next(24)
            var fields: [String] = [
                "\"id\":\"\(id)\"",
                "\"timestamp\":\"2024-03-\(pad(day))T\(pad(hour)):\(pad(random.next(60))):\(pad(random.next(60))).\(random.next(900) + 100)+00:00\"",
                "\"campaignId\":\"\(campaigns[random.next(campaigns.count)])\"",
                "\"platform\":\"\(platforms[random.next(2)])\"",
                "\"softwareVersion\":\"\(versions[random.next(versions.count)])\"",
                "\"sourceGameId\":\(random.next(2_000_000))",
                "\"country\":\"\(countries[random.next(countries.count)])\"",
                "\"startCount\":\(random.next(200))",
                "\"viewCount\":\(random.next(50))",
                "\"clickCount\":\(random.next(5))",
                "\"installCount\":\(random.next(2))",
                "\"startCount1d\":\(random.next(10))",
                "\"startCount7d\":\(random.next(40))",
                "\"connectionType\":\"\(connections[random.next(2)])\"",
                "\"deviceType\":\"\(devices[random.next(devices.count)])\"",
            ]
            switch random.next(4) {
            case 0: fields.append("\"lastStart\":null")
            case 1: break  // missing: a missing value, not an error
            default: fields.append("\"lastStart\":\"2024-02-\(pad(1 + random.next(28)))T21:03:11.000+00:00\"")
            }
            if random.next(10) == 0 { fields.append("\"extra\":{\"ignored\":[1,2,3]}") }
            return TestEvent(key: id, value: Array("{\(fields.joined(separator: ","))}".utf8))
        }
    }

    /// One malformed event of each kind, with the featurizer error code it must be dead-lettered with.
    static let malformed: [(name: String, code: String, event: TestEvent)] = [
        ("not JSON", "not_json", TestEvent(key: "bad-json", value: Array("{\"id\": \"bad-json\", ".utf8))),
        ("null value", "not_json", TestEvent(key: "bad-null", value: nil)),
        ("not an object", "not_object", TestEvent(key: "bad-array", value: Array("[1, 2, 3]".utf8))),
        ("missing id", "missing_id", TestEvent(key: "bad-noid", value: Array("{\"platform\":\"ios\",\"startCount\":3}".utf8))),
        ("empty id", "missing_id", TestEvent(key: "bad-emptyid", value: Array("{\"id\":\"\",\"startCount\":3}".utf8))),
        ("wrong type", "wrong_type", TestEvent(key: "bad-type", value: Array("{\"id\":\"bad-type\",\"startCount\":\"many\"}".utf8))),
        ("too large", "too_large", TestEvent(key: "bad-large", value: Array("{\"id\":\"bad-large\",\"pad\":\"\(String(repeating: "x", count: 70_000))\"}".utf8))),
    ]

    /// Writes events as JSON lines (for `scorer score --events`).
    static func writeJSONLines(_ events: [TestEvent], to url: URL) throws {
        var data = Data()
        for event in events {
            data.append(contentsOf: event.value ?? [])
            data.append(0x0A)
        }
        try data.write(to: url)
    }

    private static func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

/// A small, fast, seedable generator (SplitMix64), so test data is the same on every run.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(bound))
    }
}
