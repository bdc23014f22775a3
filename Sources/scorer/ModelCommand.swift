import ArgumentParser

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model")
    func run() async throws {
        throw ValidationError("'scorer model' is being built in this change")
    }
}
