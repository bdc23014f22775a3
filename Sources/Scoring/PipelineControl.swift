import Dispatch
import Kafka
import Synchronization

/// An output the broker refused as too large: its tracking token, where it was going, and a copy
/// of the message.
struct RefusedOutput: Sendable {
    var token: UInt64
    var topic: String
    var message: RefusedMessage
    var reason: String
}

/// Flags shared between the service's async side and its Kafka threads.
final class PipelineControl: Sendable {
    /// Set once graceful shutdown starts: stop consuming, drain, commit, leave.
    let stopRequested = Atomic<Bool>(false)
    /// Monotonic nanoseconds by which the drain must be over (valid once `stopRequested`).
    let drainDeadlineNanos = Atomic<UInt64>(UInt64.max)
    /// Set by the delivery thread when a delivery failed for good.
    let deliveryFailed = Atomic<Bool>(false)
    /// Set when the consuming thread has finished (the delivery thread may then stop).
    let consumingFinished = Atomic<Bool>(false)
    /// Set when an offset commit was refused because the group is rebalancing; cleared by the
    /// next rebalance event. While set, no asynchronous commit is sent: one queued behind this
    /// member's JoinGroup reaches the coordinator after the generation changed, and librdkafka
    /// answers its ILLEGAL_GENERATION by dropping the whole assignment as lost (rdkafka_cgrp.c),
    /// which would stop every partition of the member, exactly what incremental rebalancing avoids.
    let rebalanceInProgress = Atomic<Bool>(false)
    /// Whether the pipeline is consuming with a model and an assignment (for /readyz).
    let ready = Atomic<Bool>(false)
    /// Outputs the broker refused as too large, handed from the delivery thread to the producing
    /// thread, which publishes a cut-down dead letter for each (under the same tracking token).
    let refusedOutputs = Mutex<[RefusedOutput]>([])

    func requestStop(within timeout: Duration) {
        let nanos = UInt64(timeout.components.seconds) * 1_000_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000)
        drainDeadlineNanos.store(DispatchTime.now().uptimeNanoseconds &+ nanos, ordering: .relaxed)
        stopRequested.store(true, ordering: .releasing)
    }

    var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }

    var drainTimeRemaining: Int64 {
        Int64(bitPattern: drainDeadlineNanos.load(ordering: .relaxed) &- DispatchTime.now().uptimeNanoseconds)
    }
}
