import Logging

// MARK: - Feature drift

extension ScoringPipeline {
    /// Adds a scored batch's drift cells to the window and logs a (rate-limited) warning when a
    /// feature has drifted.
    func recordDrift(_ runtime: BatchRuntime) {
        runtime.forEachDrift { metrics.drift.record($0) }
        if let warning = metrics.drift.warning() { logger.warning("\(warning)") }
    }

    /// Says once, at start, which serving models get no drift metrics (their card has no `drift_reference`).
    func logDriftReferences(_ models: ServingModels) {
        for role in ModelRole.allCases {
            guard let model = models[role] else { continue }
            if let reference = model.bundle.card?.driftReference {
                logger.info("drift tracking", metadata: [
                    "role": "\(role.rawValue)", "model": "\(model.label)", "features": "\(reference.features.count)",
                ])
            } else {
                logger.notice("no drift metrics for this model: its card.json has no drift_reference (write one with models/train/drift.py)", metadata: [
                    "role": "\(role.rawValue)", "model": "\(model.label)",
                ])
            }
        }
    }
}
