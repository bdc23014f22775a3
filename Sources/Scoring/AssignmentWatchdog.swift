import Foundation

/// Notices a consumer-group member that has held no partitions for longer than a few session
/// timeouts, so an operator hears about it instead of finding idle instances and a growing lag.
///
/// Two causes look alike from inside one member: more instances than input partitions (the extra
/// ones idle by design), or a group that cannot finish rebalancing. The second happens on brokers
/// whose coordinator is slow to settle: Tansu holds every JoinGroup for half the session timeout and
/// gives partitions to crashed members until their session expires, so a crash loop left every
/// instance without partitions for two minutes while nothing was logged above info (README,
/// Troubleshooting). The alert names both causes.
struct AssignmentWatchdog: Sendable {
    /// How long a member may hold no partitions before the first alert (and between repeats).
    let limitNanoseconds: UInt64
    /// Since when this member has held no partitions (nil: it holds some, or is not a member).
    private(set) var unassignedSince: UInt64?
    private var lastAlert: UInt64?
    private var nextCheck: UInt64 = 0
    /// Checks are due at most this often (the loop calls `check` once per poll).
    static let checkIntervalNanoseconds: UInt64 = 250_000_000

    /// - Parameter sessionTimeoutMs: the group session timeout; the limit is `multiple` times it.
    init(sessionTimeoutMs: Int, multiple: Int = 3) {
        limitNanoseconds = UInt64(max(1, sessionTimeoutMs)) * UInt64(max(1, multiple)) * 1_000_000
    }

    /// The member joined (subscribed) at `now`, holding nothing yet.
    mutating func joined(now: UInt64) {
        unassignedSince = now
        lastAlert = nil
    }

    /// The member now holds `partitions` partitions; returns how long it had held none before
    /// this assignment, in seconds, when that was long enough to have been alerted about.
    mutating func holds(_ partitions: Int, now: UInt64) -> Double? {
        if partitions > 0 {
            defer { unassignedSince = nil; lastAlert = nil }
            guard let since = unassignedSince, lastAlert != nil else { return nil }
            return seconds(now &- since)
        }
        if unassignedSince == nil { unassignedSince = now }
        return nil
    }

    /// Nil when the last check was under `checkIntervalNanoseconds` ago; else seconds without
    /// partitions so far (0 while holding some), and whether to alert now: first once the limit
    /// has passed, then again every further limit while it lasts.
    mutating func check(now: UInt64) -> (unassignedSeconds: Double, alert: Bool)? {
        guard now >= nextCheck else { return nil }
        nextCheck = now &+ Self.checkIntervalNanoseconds
        guard let since = unassignedSince else { return (0, false) }
        let elapsed = now &- since
        guard elapsed >= limitNanoseconds else { return (seconds(elapsed), false) }
        if let lastAlert, now &- lastAlert < limitNanoseconds { return (seconds(elapsed), false) }
        lastAlert = now
        return (seconds(elapsed), true)
    }

    private func seconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 }
}

// MARK: - In the committing stage

extension OffsetCommitter {
    /// The member subscribed: it holds nothing until its first assignment.
    func joinedGroup() {
        assignmentWatchdog.joined(now: DispatchTime.now().uptimeNanoseconds)
    }

    /// Updates `scorer_unassigned_seconds` and logs an error when this member has held no
    /// partitions for longer than the watchdog's limit (see ``AssignmentWatchdog``). Called once
    /// per turn of the pipeline's loop.
    func checkAssignmentWatchdog() {
        guard let (seconds, alert) = assignmentWatchdog.check(now: DispatchTime.now().uptimeNanoseconds) else { return }
        metrics.recordUnassigned(seconds: seconds)
        guard alert else { return }
        let limit = assignmentWatchdog.limitNanoseconds / 1_000_000_000
        logger.error(
            "no partitions assigned for \(Int(seconds)) s (limit \(limit) s, 3 session timeouts): this group has more members than '\(inputTopic)' has partitions, or it cannot finish a rebalance (README, Troubleshooting)",
            metadata: ["group": "\(group)"])
    }

    /// Tells the watchdog how many partitions this member holds after a rebalance.
    func noteAssignment() {
        let now = DispatchTime.now().uptimeNanoseconds
        if let seconds = assignmentWatchdog.holds(assigned.count, now: now) {
            logger.notice("partitions assigned after \(Int(seconds)) s without any")
        }
        if !assigned.isEmpty { metrics.recordUnassigned(seconds: 0) }
    }
}
