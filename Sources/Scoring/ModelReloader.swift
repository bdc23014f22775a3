import Foundation
import Kafka
import Logging
import ModelBundles
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The hand-over point between the model reloader and the scoring thread.
///
/// The reloader *offers* a loaded, validated model; the scoring thread *takes* it between two
/// batches, so a batch is always scored by exactly one model and the swap costs the hot path one
/// uncontended lock per batch.
final class ModelSlot<Model: Sendable>: Sendable {
    private let pending = Mutex<Model?>(nil)

    init() {}

    /// Offers `model` to replace the current one at the next batch boundary (a newer offer that
    /// arrives first wins).
    func offer(_ model: Model) {
        pending.withLock { $0 = model }
    }

    /// The model waiting to be swapped in, if any (and clears the offer).
    func takePending() -> Model? {
        pending.withLock { pending in
            defer { pending = nil }
            return pending
        }
    }
}

/// One model slot per role: the reloader offers, the scoring stage takes between batches.
final class ModelSlots: Sendable {
    private let primary = ModelSlot<ScoringModel>()
    private let shadow = ModelSlot<ScoringModel>()
    private let canary = ModelSlot<ScoringModel>()

    subscript(role: ModelRole) -> ModelSlot<ScoringModel> {
        switch role {
        case .primary: primary
        case .shadow: shadow
        case .canary: canary
        }
    }
}

/// Reloads the model bundles without a restart: on SIGHUP (every role) and, when watching,
/// whenever a bundle's files change (that role). Loading and proving run on a thread of their own
/// (off the hot path); a good bundle is offered to the scoring stage, a bad one is refused with
/// one error line, counted by reason, and the slot's current model keeps serving: one role's bad
/// bundle never affects the others.
struct ModelReloader: Service {
    /// A bundle to reload and the role it serves in.
    struct Target: Sendable {
        var role: ModelRole
        var path: String
    }

    let targets: [Target]
    /// Poll the bundles' files this often for changes; nil = only on SIGHUP.
    let watchInterval: Duration?
    /// Whether to trap SIGHUP (off when embedded in a process that uses SIGHUP otherwise).
    let reloadOnSIGHUP: Bool
    /// Reasons per prediction (`--explain`): a primary that cannot explain is refused.
    let explainTop: Int
    let slots: ModelSlots
    let metrics: ScoringMetrics
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if reloadOnSIGHUP {
                let signals = await UnixSignalsSequence(trapping: .sighup)
                group.addTask {
                    for await _ in signals.cancelOnGracefulShutdown() {
                        logger.info("SIGHUP: reloading the model bundles", metadata: ["bundles": "\(targets.map { "\($0.role.rawValue)=\($0.path)" })"])
                        await reloadAll()
                    }
                }
            }
            if let watchInterval {
                for target in targets {
                    group.addTask { await watch(target, every: watchInterval) }
                }
            }
            // Until graceful shutdown (or cancellation) of the service.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    private func watch(_ target: Target, every interval: Duration) async {
        var seen = BundleFingerprint.of(target.path)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await Task.sleep(for: interval) } catch { return }
            let now = BundleFingerprint.of(target.path)
            guard now != seen else { continue }
            // Let a copy in progress settle: reload once two polls agree.
            do { try await Task.sleep(for: interval) } catch { return }
            let settled = BundleFingerprint.of(target.path)
            guard settled == now else { continue }
            seen = settled
            logger.info("model bundle changed on disk: reloading", metadata: ["role": "\(target.role.rawValue)", "path": "\(target.path)"])
            await reload(target)
        }
    }

    /// Reloads every role's bundle.
    func reloadAll() async {
        for target in targets { await reload(target) }
    }

    /// Loads, proves and offers one bundle; logs and counts the outcome.
    func reload(_ target: Target) async {
        let path = target.path
        do {
            let model = try await KafkaThread.run(name: "scorer-model-load", stackSize: 4 << 20) { try ScoringModel.load(path: path) }
            if target.role == .primary, explainTop > 0, let problem = model.explanationProblem {
                metrics.recordReload(role: target.role, accepted: false)
                metrics.recordRefusal(role: target.role, reason: "not_explainable")
                logger.error("model reload refused, the current primary model keeps serving: --explain: \(problem)", metadata: ["reason": "not_explainable"])
                return
            }
            for warning in model.bundle.warnings { logger.warning("\(warning)") }
            slots[target.role].offer(model)
            metrics.recordReload(role: target.role, accepted: true)
            logger.info("model reloaded; it scores from the next batch on", metadata: ["role": "\(target.role.rawValue)", "model": "\(model.label)"])
        } catch {
            let reason = (error as? BundleError)?.code.rawValue ?? "io"
            metrics.recordReload(role: target.role, accepted: false)
            metrics.recordRefusal(role: target.role, reason: reason)
            logger.error("model reload refused, the current \(target.role.rawValue) model keeps serving: \(error)", metadata: ["reason": "\(reason)"])
        }
    }
}

/// What identifies a bundle's content on disk cheaply: each file's name, size and modification time.
struct BundleFingerprint: Equatable, Sendable {
    var files: [String: [Double]]

    static func of(_ path: String) -> BundleFingerprint {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { return BundleFingerprint(files: [:]) }
        let names = isDirectory.boolValue ? ((try? manager.contentsOfDirectory(atPath: path)) ?? []) : [""]
        var files: [String: [Double]] = [:]
        for name in names {
            let file = name.isEmpty ? path : path + "/" + name
            guard let attributes = try? manager.attributesOfItem(atPath: file) else { continue }
            let size = (attributes[.size] as? NSNumber)?.doubleValue ?? -1
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
            files[name] = [size, modified]
        }
        return BundleFingerprint(files: files)
    }
}
