import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The HTTP endpoint operators scrape and probe, as a swift-service-lifecycle `Service`.
///
/// - `GET /metrics`: Prometheus text exposition of the service's registry.
/// - `GET /healthz`: 200 while the process runs (liveness).
/// - `GET /readyz`: 200 `ready: N partitions assigned` while the service is consuming (models
///   loaded, in its consumer group, not draining), 503 otherwise. A member with zero partitions is
///   ready: it is in the group, able to take partitions at the next rebalance (a readiness that
///   required partitions would stall rolling updates of a group with more members than
///   partitions); whether it is serving is `scorer_assigned_partitions`.
struct MetricsServer: Service {
    let host: String
    let port: Int
    let metrics: ScoringMetrics
    let isReady: @Sendable () -> Bool
    let assignedPartitions: @Sendable () -> Int
    let logger: Logger
    /// Called with the bound port once listening (useful with port 0).
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let router = Router()
        let metrics = self.metrics
        router.get("metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            metrics.render(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.get("healthz") { _, _ -> Response in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        let isReady = self.isReady
        let assignedPartitions = self.assignedPartitions
        router.get("readyz") { _, _ -> Response in
            let assigned = assignedPartitions()
            let partitions = "\(assigned) partition\(assigned == 1 ? "" : "s") assigned"
            return isReady()
                ? Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ready: \(partitions)\n")))
                : Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: "not ready: \(partitions)\n")))
        }
        var serverLogger = logger
        // Hummingbird logs every request at debug/info; keep the service's log about the service.
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let onListening = self.onListening
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "scorer"),
            onServerRunning: { channel in
                onListening(channel.localAddress?.port ?? port)
            },
            logger: serverLogger
        )
        try await app.run()
    }
}
