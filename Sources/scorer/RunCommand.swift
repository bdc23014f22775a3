import ArgumentParser

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run")
    func run() async throws {
        throw ValidationError("'scorer run' is being built in this change")
    }
}
