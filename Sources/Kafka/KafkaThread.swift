import Foundation

/// Runs blocking Kafka calls on threads of their own, so async code never blocks Swift's
/// cooperative thread pool with them.
public enum KafkaThread {
    /// Runs `body` on a new dedicated thread and resumes the caller with its result.
    ///
    /// Meant for occasional blocking calls from async code (`flush`, `commit`, `lag`, a poll
    /// loop that runs until stopped). A thread is created per call; for a hot loop, run the whole
    /// loop inside one `run`. Cancellation is not forwarded: make `body` observe your own stop flag.
    public static func run<Result: Sendable>(
        name: String = "kafka-blocking", _ body: @escaping @Sendable () throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Swift.Result { try body() })
            }
            thread.name = name
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
