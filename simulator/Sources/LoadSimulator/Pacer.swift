/// The send schedule of a replay: event `n` is due at `anchorTime + (n - anchorCount) / rate`.
///
/// Keeping an absolute schedule (rather than sleeping a fixed gap after each send) means a late
/// wake-up is made up on the next one, so every one-second window holds the target count. A rate
/// change re-anchors the schedule at the moment of the change, keeping any backlog.
struct Pacer: Sendable {
    private(set) var rate: Double
    private var anchorTime: UInt64
    private var anchorCount: Int

    /// A schedule at `rate` events/s whose first event (number `count`) is due at `time` (ns).
    init(rate: Double, startingAt time: UInt64, count: Int = 0) {
        precondition(rate > 0)
        self.rate = rate
        self.anchorTime = time
        self.anchorCount = count
    }

    /// How many events (in total, counting from 0) are due at monotonic time `now`.
    func dueCount(at now: UInt64) -> Int {
        guard now >= anchorTime else { return anchorCount }
        return anchorCount + Int((Double(now - anchorTime) * rate / 1e9).rounded(.down)) + 1
    }

    /// When event number `number` is due (ns).
    func dueTime(ofEvent number: Int) -> UInt64 {
        guard number > anchorCount else { return anchorTime }
        // Start from the floating-point estimate, then step to the exact first nanosecond at which
        // `dueCount` includes the event (rounding must not disagree between the two functions).
        var time = anchorTime + UInt64((Double(number - anchorCount) * 1e9 / rate).rounded(.up))
        while dueCount(at: time) <= number { time += 1 }
        while time > anchorTime, dueCount(at: time - 1) > number { time -= 1 }
        return time
    }

    /// Changes the rate from `now` on; events already due stay due.
    mutating func changeRate(to newRate: Double, at now: UInt64) {
        precondition(newRate > 0)
        let due = dueCount(at: now)
        // The first event not yet due under the old rate becomes due right after `now`.
        rate = newRate
        anchorTime = now + 1
        anchorCount = due
    }

    /// The largest number of events one wake-up may send: one linger interval's worth (at least 1),
    /// so the producer never sees a burst bigger than what it would batch anyway.
    static func burstLimit(rate: Double, lingerMs: Int) -> Int {
        max(1, Int((rate * Double(max(lingerMs, 1)) / 1000).rounded(.down)))
    }
}
