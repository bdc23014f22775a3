import ArgumentParser

struct LagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lag")
    func run() async throws {
        throw ValidationError("'scorer lag' is being built in this change")
    }
}
