import Foundation

/// Runs blocking work (librdkafka calls with timeouts, file reads, model loading) on a thread of its
/// own and awaits the result, so it never occupies a thread of Swift's cooperative pool.
///
/// - Parameters:
///   - name: the thread's name, shown by debuggers and `top -H`.
///   - body: the work; it runs to completion even if the awaiting task is cancelled (blocking
///     calls cannot be interrupted), so give it its own way to stop.
func onDedicatedThread<Result: Sendable>(
    name: String,
    _ body: @escaping @Sendable () throws -> Result
) async throws -> Result {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
        let thread = Thread {
            continuation.resume(with: Swift.Result { try body() })
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }
}
