import ArgumentParser

struct ScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "score")
    func run() async throws {
        throw ValidationError("'scorer score' is being built in this change")
    }
}
