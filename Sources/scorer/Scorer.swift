import ArgumentParser

@main
struct Scorer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scorer",
        abstract: "Real-time install-probability scoring of ad impressions over Kafka.",
        subcommands: [
            DemoCommand.self, RunCommand.self, ScoreCommand.self, ModelCommand.self,
            BrokerCommand.self, LagCommand.self,
        ]
    )
}
