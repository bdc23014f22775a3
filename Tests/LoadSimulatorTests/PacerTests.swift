import Testing
@testable import LoadSimulator

@Suite struct PacerTests {
    @Test func eventsAreDueEvenlyAtTheRate() {
        let pacer = Pacer(rate: 5000, startingAt: 1_000_000_000)
        #expect(pacer.dueCount(at: 999_999_999) == 0)
        #expect(pacer.dueCount(at: 1_000_000_000) == 1)
        // Exactly 5,000 events fall in each one-second window.
        for second in 0..<5 {
            let start = 1_000_000_000 + UInt64(second) * 1_000_000_000
            let inWindow = pacer.dueCount(at: start + 999_999_999) - pacer.dueCount(at: start - 1)
            #expect(inWindow == 5000)
        }
        for number in [1, 17, 4999, 123_456] {
            let due = pacer.dueTime(ofEvent: number)
            #expect(pacer.dueCount(at: due) == number + 1)
            #expect(pacer.dueCount(at: due - 1) == number)
        }
    }

    @Test func aRateChangeKeepsTheBacklogAndAppliesFromThen() {
        var pacer = Pacer(rate: 1000, startingAt: 0)
        let due = pacer.dueCount(at: 2_000_000_000)
        pacer.changeRate(to: 4000, at: 2_000_000_000)
        #expect(pacer.dueCount(at: 2_000_000_000) == due)
        #expect(pacer.dueCount(at: 3_000_000_000) - due == 4000)
    }

    @Test func burstsAreAtMostOneLingerInterval() {
        #expect(Pacer.burstLimit(rate: 5000, lingerMs: 5) == 25)
        #expect(Pacer.burstLimit(rate: 10, lingerMs: 5) == 1)
        #expect(Pacer.burstLimit(rate: 5000, lingerMs: 0) == 5)
    }
}

@Suite struct LagTrackerTests {
    @Test func catchUpTimeFollowsTheNetConsumptionRate() {
        // Gaining 100/s on a lag of 500: 5 s.
        #expect(LagTracker.catchUp(lag: 500, consumed: 1100, produced: 1000) == 5)
        // Steady state: commits trail by less than a second of consumption: keeping up.
        #expect(LagTracker.catchUp(lag: 50, consumed: 1000, produced: 1000) == 0.05)
        // A lag of more than a second of consumption that does not shrink: falling behind.
        #expect(LagTracker.catchUp(lag: 5000, consumed: 1000, produced: 1200) == nil)
        #expect(LagTracker.catchUp(lag: 0, consumed: 0, produced: 0) == 0)
    }
}
