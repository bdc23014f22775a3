import ArgumentParser

struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "broker")
    func run() async throws {
        throw ValidationError("'scorer broker' is being built in this change")
    }
}
