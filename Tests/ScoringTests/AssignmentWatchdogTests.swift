import Testing
@testable import Scoring

@Suite struct AssignmentWatchdogTests {
    static let second: UInt64 = 1_000_000_000

    @Test func alertsOnceThreeSessionTimeoutsPassWithoutPartitionsThenEveryFurtherLimit() {
        var watchdog = AssignmentWatchdog(sessionTimeoutMs: 6_000)
        #expect(watchdog.limitNanoseconds == 18 * Self.second)
        watchdog.joined(now: 100 * Self.second)
        #expect(watchdog.check(now: 110 * Self.second)?.alert == false)
        #expect(watchdog.check(now: 117 * Self.second)?.unassignedSeconds == 17)
        let first = watchdog.check(now: 118 * Self.second)
        #expect(first?.alert == true && first?.unassignedSeconds == 18)
        #expect(watchdog.check(now: 130 * Self.second)?.alert == false, "not again before another limit has passed")
        #expect(watchdog.check(now: 136 * Self.second)?.alert == true)
        // Partitions at last: the time without them is reported once, and the gauge drops to 0.
        #expect(watchdog.holds(2, now: 140 * Self.second) == 40)
        #expect(watchdog.check(now: 200 * Self.second).map { $0.unassignedSeconds == 0 && !$0.alert } == true)
    }

    @Test func checksAreThrottledToFourASecond() {
        var watchdog = AssignmentWatchdog(sessionTimeoutMs: 1_000)
        watchdog.joined(now: 0)
        #expect(watchdog.check(now: 5 * Self.second) != nil)
        #expect(watchdog.check(now: 5 * Self.second + 100_000_000) == nil)
        #expect(watchdog.check(now: 5 * Self.second + 250_000_000) != nil)
    }

    @Test func losingEveryPartitionStartsTheClockAndAShortGapIsNotReported() {
        var watchdog = AssignmentWatchdog(sessionTimeoutMs: 10_000)
        watchdog.joined(now: 0)
        #expect(watchdog.holds(3, now: 5 * Self.second) == nil, "a normal join is not worth a word")
        #expect(watchdog.check(now: 100 * Self.second)?.unassignedSeconds == 0)
        #expect(watchdog.holds(0, now: 200 * Self.second) == nil)
        #expect(watchdog.check(now: 229 * Self.second)?.alert == false)
        #expect(watchdog.check(now: 230 * Self.second)?.alert == true)
        #expect(watchdog.holds(1, now: 231 * Self.second) == 31)
    }
}
