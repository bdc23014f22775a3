import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The HTTP endpoint operators scrape and probe, as a swift-service-lifecycle `Service`.
///
/// - `GET /metrics`: Prometheus text exposition of the service's registry.
/// - `GET /healthz`: 200 while the process runs (liveness).
/// - `GET /readyz`: 200 when the service is consuming (assigned, model loaded, not draining),
///   503 otherwise (readiness).
struct MetricsServer: Service {
    let host: String
    let port: Int
    let metrics: ScoringMetrics
    let isReady: @Sendable () -> Bool
    let logger: Logger
    /// Called with the bound port once listening (useful with port 0).
    let onListening: @Sendable (Int) -> Void

    func run() async throws {
        let router = Router()
        let registry = metrics.registry
        router.get("metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
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
        router.get("readyz") { _, _ -> Response in
            isReady()
                ? Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "ready\n")))
                : Response(status: .serviceUnavailable, body: ResponseBody(byteBuffer: ByteBuffer(string: "not ready\n")))
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
