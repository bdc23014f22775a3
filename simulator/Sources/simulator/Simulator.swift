import ArgumentParser

@main
struct Simulator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulator",
        abstract: "Replay impression events into Kafka at a fixed rate and measure the scorer."
    )
    func run() async throws {
        throw ValidationError("the simulator is being built in this change")
    }
}
