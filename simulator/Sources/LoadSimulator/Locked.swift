import Foundation

/// A value guarded by a lock, shared between the replayer, the measurer and whoever reads snapshots.
final class Locked<Value>: @unchecked Sendable {
    // Safe to mark Sendable: `value` is private and only ever touched inside `withLock`, which holds
    // `lock` for the whole access, so no two threads see it at once.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC): for pacing and latency within one process.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Wall clock in milliseconds since 1970: the unit of Kafka message timestamps.
@inline(__always)
func wallClockMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
}

/// Sleeps until the monotonic clock reads `deadline` nanoseconds (absolute, so oversleeping one
/// wake-up does not shift every later one).
func sleepUntil(monotonicNanoseconds deadline: UInt64) {
    #if os(Linux)
    var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
    #else
    let now = monotonicNanoseconds()
    if deadline > now { usleep(useconds_t((deadline - now) / 1000)) }
    #endif
}
