import Foundation
import Logging
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

/// Reloads the model bundle without a restart: on SIGHUP and, when watching, whenever the bundle's
/// files change. Loading and validation run on a thread of their own (off the hot path); a good
/// bundle is offered to the scoring thread, a bad one is rejected with one error line and the
/// current model keeps serving.
struct ModelReloader<Model: Sendable>: Service {
    /// The bundle folder (or model file) to reload.
    let path: String
    /// Poll the bundle's files this often for changes; nil = only on SIGHUP.
    let watchInterval: Duration?
    /// Whether to trap SIGHUP (off when embedded in a process that uses SIGHUP otherwise).
    let reloadOnSIGHUP: Bool
    /// Loads and validates a bundle; throws a one-line reason on a bad bundle.
    let load: @Sendable (String) throws -> Model
    /// The name a model reports (for logs).
    let nameOf: @Sendable (Model) -> String
    let slot: ModelSlot<Model>
    let metrics: ScoringMetrics
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            if reloadOnSIGHUP {
                let signals = await UnixSignalsSequence(trapping: .sighup)
                group.addTask {
                    for await _ in signals.cancelOnGracefulShutdown() {
                        logger.info("SIGHUP: reloading the model bundle", metadata: ["path": "\(path)"])
                        await reload()
                    }
                }
            }
            if let watchInterval {
                group.addTask {
                    var seen = BundleFingerprint.of(path)
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        do { try await Task.sleep(for: watchInterval) } catch { return }
                        let now = BundleFingerprint.of(path)
                        guard now != seen else { continue }
                        // Let a copy in progress settle: reload once two polls agree.
                        do { try await Task.sleep(for: watchInterval) } catch { return }
                        let settled = BundleFingerprint.of(path)
                        guard settled == now else { continue }
                        seen = settled
                        logger.info("model bundle changed on disk: reloading", metadata: ["path": "\(path)"])
                        await reload()
                    }
                }
            }
            // Until graceful shutdown (or cancellation) of the service.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Loads, validates and offers the bundle; logs and counts the outcome.
    func reload() async {
        let load = self.load
        let path = self.path
        do {
            let model = try await onDedicatedThread(name: "scorer-model-load") { try load(path) }
            slot.offer(model)
            metrics.recordReload(accepted: true)
            logger.info("model reloaded; it scores from the next batch on", metadata: ["model": "\(nameOf(model))"])
        } catch {
            metrics.recordReload(accepted: false)
            logger.error("model reload rejected, the current model keeps serving: \(error)")
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
