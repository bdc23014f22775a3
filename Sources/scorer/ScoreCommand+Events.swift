import ArgumentParser

extension ScoreCommand {
    /// Scores raw impression events into prediction JSON lines (owned by the Features work).
    func scoreEvents(path: String) throws {
        throw ValidationError("--events is being built in this change")
    }
}
