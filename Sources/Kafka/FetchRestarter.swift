/// Decides when a consumer must wake librdkafka's fetchers after its local queue filled up.
///
/// librdkafka stops fetching while the consumer's local queue holds `queued.min.messages`
/// messages or `queued.max.messages.kbytes` (limits it compares with the whole consumer queue, not
/// one partition's share), and before version 2.2 it looks again only when the broker thread next
/// wakes for some other reason: up to a second later (librdkafka issue #2879; 2.2 added
/// `fetch.queue.backoff.ms` for this). A consumer that empties the queue within that second then
/// sits idle: a drain of a backlog stalls mid-way with every thread asleep (BENCHMARKS.md,
/// "Service vs Python baseline", fetch restart).
///
/// Any request queued for a broker wakes its thread, which then re-checks the limits and fetches.
/// So once the queue, having come within a quarter of a limit, falls below half of it, the
/// consumer sends one read-only request to the leaders (`KafkaConsumer.wakeFetchers`): at most one
/// per fill-and-drain cycle, and none in a steady stream that never comes near the limits.
struct FetchRestarter: Sendable {
    /// `queued.min.messages`: the queue length at which librdkafka stops fetching.
    let messageLimit: Int
    /// `queued.max.messages.kbytes` in bytes: the queue size at which librdkafka stops fetching.
    let byteLimit: Int
    /// Whether the queue came near a limit since the last wake-up (so the fetchers may be stopped).
    private(set) var mayBeStopped = false
    private var messagesTaken = 0
    private var bytesTaken = 0

    init(messageLimit: Int, byteLimit: Int) {
        self.messageLimit = max(1, messageLimit)
        self.byteLimit = max(1, byteLimit)
    }

    /// Whether the linked librdkafka needs the wake-ups: one without `fetch.queue.backoff.ms`
    /// (before 2.2) has nothing else that restarts a fetcher stopped by the queue limits for up to
    /// a second. (Where the property exists, `KafkaConsumer` sets it low instead.)
    static var isNeeded: Bool { KafkaConfig.propertyScopes[backoffProperty] == nil }

    /// librdkafka 2.2's setting for how soon a fetcher stopped by the queue limits looks again.
    static let backoffProperty = "fetch.queue.backoff.ms"

    /// Records one poll that took `count` messages of `bytes` bytes and left `queued` messages in
    /// the queue; returns true when the fetchers should be woken now.
    mutating func shouldWake(afterTaking count: Int, bytes: Int, stillQueued queued: Int) -> Bool {
        messagesTaken &+= count
        bytesTaken &+= bytes
        // librdkafka counts the queue's bytes; estimate them from the messages seen so far.
        let averageBytes = messagesTaken > 0 ? bytesTaken / messagesTaken : 0
        let before = queued + count
        if before * 4 >= messageLimit * 3 || before * averageBytes * 4 >= byteLimit * 3 { mayBeStopped = true }
        guard mayBeStopped, queued * 2 < messageLimit, queued * averageBytes * 2 < byteLimit else { return false }
        mayBeStopped = false
        return true
    }
}
