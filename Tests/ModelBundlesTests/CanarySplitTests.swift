import ModelBundles
import Testing

/// The canary split: its share, stickiness and the hash that pins it across releases.
struct CanarySplitTests {
    /// Over 100,000 ids of the shape events carry, the canary's share is within ±0.5 points of the
    /// setting.
    @Test(arguments: [1.0, 5.0, 10.0, 25.0, 50.0, 90.0])
    func shareIsWithinHalfAPointOfTheSetting(percent: Double) {
        let split = CanarySplit(percent: percent)
        var generator = SplitMix64(seed: 11)
        var canary = 0
        let count = 100_000
        for index in 0..<count {
            // Two id shapes: UUIDs (what the simulator sends) and sequential ids.
            let id = index.isMultiple(of: 2) ? uuid(&generator) : "evt-\(index)"
            if split.isCanary(id: id) { canary += 1 }
        }
        let share = Double(canary) / Double(count) * 100
        #expect(abs(share - percent) <= 0.5, "canary share \(share) % for a setting of \(percent) %")
    }

    /// Raising the percentage only moves ids from primary to canary; 0 and 100 take none and all.
    @Test func raisingThePercentageOnlyMovesIdsToTheCanary() {
        let ids = (0..<20_000).map { "impression-\($0)" }
        var previous = Set<String>()
        for percent in [0.0, 1, 2.5, 10, 30, 70, 100] {
            let split = CanarySplit(percent: percent)
            let chosen = Set(ids.filter { split.isCanary(id: $0) })
            #expect(chosen.isSuperset(of: previous), "at \(percent) %")
            if percent == 0 { #expect(chosen.isEmpty) }
            if percent == 100 { #expect(chosen.count == ids.count) }
            previous = chosen
        }
    }

    /// The rule is FNV-1a-64 of the id's bytes mod 10,000: pinned by the published FNV test vectors,
    /// so a release that changed the hash (and moved users between models) fails here.
    @Test func theHashIsFNV1a64() {
        #expect(CanarySplit.fnv1a64(of: "") == 0xcbf2_9ce4_8422_2325)
        #expect(CanarySplit.fnv1a64(of: "a") == 0xaf63_dc4c_8601_ec8c)
        #expect(CanarySplit.fnv1a64(of: "foobar") == 0x8594_4171_f739_67e8)
        // Bucket of an id = hash mod 10,000; below percent x 100 is canary.
        let id = "foobar"
        let bucket = Int(0x8594_4171_f739_67e8 as UInt64 % 10_000)
        #expect(CanarySplit(percent: Double(bucket + 1) / 100).isCanary(id: id))
        #expect(!CanarySplit(percent: Double(bucket) / 100).isCanary(id: id))
    }

    private func uuid(_ generator: inout SplitMix64) -> String {
        let hex = Array("0123456789abcdef")
        var text = ""
        for position in 0..<32 {
            if [8, 12, 16, 20].contains(position) { text.append("-") }
            text.append(hex[Int(generator.next() % 16)])
        }
        return text
    }
}
