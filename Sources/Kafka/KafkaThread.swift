import Foundation

/// Runs blocking work (librdkafka calls with timeouts, file reads, model loading) on threads of
/// their own, so async code never blocks Swift's cooperative thread pool with them. The package's
/// one dedicated-thread helper.
public enum KafkaThread {
    /// Runs `body` on a new dedicated thread and resumes the caller with its result.
    ///
    /// Meant for occasional blocking calls from async code (`flush`, `commit`, `lag`, loading a
    /// model, a poll loop that runs until stopped). A thread is created per call; for a hot loop,
    /// run the whole loop inside one `run`. Cancellation is not forwarded: make `body` observe your
    /// own stop flag (blocking calls cannot be interrupted).
    ///
    /// - Parameters:
    ///   - name: the thread's name, shown by debuggers and `top -H`.
    ///   - stackSize: the thread's stack (deeply nested documents need more than the default).
    public static func run<Result: Sendable>(
        name: String = "kafka-blocking", stackSize: Int = 1 << 20, _ body: @escaping @Sendable () throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Swift.Result { try body() })
            }
            thread.name = name
            thread.stackSize = stackSize
            thread.start()
        }
    }
}
