import Foundation
public import Logging
import ServiceLifecycle
import UnixSignals

extension ScoringService {
    /// Runs a service as its own process does (`scorer run`): until SIGTERM or SIGINT, then drains,
    /// commits and leaves the group within `configuration.shutdownTimeout`. A second SIGTERM/SIGINT
    /// exits the process at once (status 128 + signal number); at-least-once still holds, since
    /// nothing unacknowledged was committed.
    ///
    /// - Throws: ``ScoringError`` from startup checks or a failed run.
    public static func runUntilSignalled(configuration: ScoringConfiguration, logger: Logger) async throws {
        let service = try ScoringService(configuration: configuration, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: service)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // The service enforces its own drain deadline; this is the backstop.
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout + .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)

        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let escalation = Task {
            var seen = 0
            for await signal in signals {
                seen += 1
                if seen == 1 {
                    logger.info("\(signal): draining, committing and leaving the group (send again to exit at once)")
                } else {
                    logger.warning("\(signal) again: exiting now without draining")
                    exit(128 + signal.rawValue)
                }
            }
        }
        defer { escalation.cancel() }
        try await group.run()
    }
}
