import Testing

@testable import Kafka

/// `shouldWake`, callable inside `#expect` (which cannot take a mutating call).
private func wake(_ restarter: inout FetchRestarter, afterTaking count: Int, bytes: Int, stillQueued queued: Int) -> Bool {
    restarter.shouldWake(afterTaking: count, bytes: bytes, stillQueued: queued)
}

@Suite("Waking fetchers stopped by the local queue limits")
struct FetchRestarterTests {
    @Test("A steady stream that never comes near the limits never wakes the fetchers")
    func steadyStream() {
        var restarter = FetchRestarter(messageLimit: 200_000, byteLimit: 256 << 20)
        for _ in 0..<10_000 {
            #expect(!wake(&restarter, afterTaking: 50, bytes: 50 * 400, stillQueued: 20))
        }
        #expect(!restarter.mayBeStopped)
    }

    @Test("Taking a full queue in one poll wakes the fetchers at once, and once per fill")
    func wholeQueueTaken() {
        var restarter = FetchRestarter(messageLimit: 100, byteLimit: 1 << 30)
        #expect(wake(&restarter, afterTaking: 400, bytes: 400 * 10, stillQueued: 0))
        #expect(!wake(&restarter, afterTaking: 10, bytes: 100, stillQueued: 0))
        // The next fill and drain wakes them again.
        #expect(wake(&restarter, afterTaking: 400, bytes: 400 * 10, stillQueued: 0))
    }

    @Test("Draining a full queue in small polls wakes the fetchers once it is below half the limit")
    func drainedInSmallPolls() {
        var restarter = FetchRestarter(messageLimit: 1_000, byteLimit: 1 << 30)
        var queued = 1_050
        var wakes: [Int] = []
        while queued > 0 {
            let taken = min(100, queued)
            queued -= taken
            if wake(&restarter, afterTaking: taken, bytes: taken * 10, stillQueued: queued) { wakes.append(queued) }
        }
        #expect(wakes == [450])
    }

    @Test("Large messages count against queued.max.messages.kbytes before queued.min.messages")
    func byteLimit() {
        // 10 KB messages: 1,000 of them fill a 10 MB byte limit long before 100,000 messages.
        var restarter = FetchRestarter(messageLimit: 100_000, byteLimit: 10 << 20)
        #expect(wake(&restarter, afterTaking: 1_000, bytes: 1_000 * 10_240, stillQueued: 0))
        // Far below the byte limit: nothing to wake.
        #expect(!wake(&restarter, afterTaking: 100, bytes: 100 * 10_240, stillQueued: 0))
        #expect(!restarter.mayBeStopped)
    }
}
