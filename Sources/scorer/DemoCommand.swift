import ArgumentParser

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo")
    func run() async throws {
        throw ValidationError("'scorer demo' is being built in this change")
    }
}
