import ArgumentParser

extension ScoreCommand {
    /// Scores a headerless CSV of feature rows (owned by the Forest work).
    func scoreFeatureRows(csvPath: String) throws {
        throw ValidationError("--features-csv is being built in this change")
    }
}
