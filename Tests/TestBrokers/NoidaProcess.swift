import Foundation
import Kafka
import Synchronization

/// noida-db's Kafka service as a child process on a 127.0.0.1 port the kernel picks, with its data
/// folder and output in a temporary folder that `stop()` removes.
final class NoidaProcess: Sendable {
    let bootstrapServers: String
    private let process: Mutex<Process?>
    /// Holds `data/` (noida-db's data directory) and `out` (its stdout and stderr).
    private let folder: URL

    /// The noida-db binary: `SCORER_TEST_NOIDA`, else where `scripts/noida.sh install` puts it.
    static func executableURL() throws -> URL {
        try LocalBrokerProcess.executable(
            override: "SCORER_TEST_NOIDA", installed: ".build-noida/noida_db/noida-db", installCommand: "scripts/noida.sh install")
    }

    /// Starts `noida-db start --only kafka --kafka-port 0` and waits until it listens.
    ///
    /// Port 0 makes the kernel pick a free port (no race with other processes), which noida-db
    /// prints as `  kafka          127.0.0.1:PORT`; its output goes to a file rather than a pipe so
    /// that nothing it writes later can block it.
    /// - Throws: `TestBrokerError` when the binary is missing or noida-db does not listen within
    ///   10 s (with what it printed).
    static func start() throws -> NoidaProcess {
        let executable = try executableURL()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("noida-test-\(UUID().uuidString)")
        let output = folder.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: output.path, contents: nil),
              let outputHandle = FileHandle(forWritingAtPath: output.path) else {
            try? FileManager.default.removeItem(at: folder)
            throw TestBrokerError("cannot create \(output.path) for noida-db's output")
        }
        defer { try? outputHandle.close() }
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "start", "--only", "kafka", "--kafka-port", "0",
            "--data-dir", folder.appendingPathComponent("data").path,
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outputHandle
        process.standardError = outputHandle
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw TestBrokerError("cannot start noida-db (\(executable.path)): \(error)")
        }
        let deadline = Date().addingTimeInterval(10)
        var port: Int?
        while port == nil, process.isRunning, Date() < deadline {
            port = Self.kafkaPort(printed: (try? String(contentsOf: output, encoding: .utf8)) ?? "")
            if port == nil { Thread.sleep(forTimeInterval: 0.02) }
        }
        let noida = NoidaProcess(bootstrapServers: "127.0.0.1:\(port ?? 0)", process: process, folder: folder)
        if let port, LocalBrokerProcess.waitUntilListening(port: port, process: process, timeout: deadline.timeIntervalSinceNow) {
            return noida
        }
        let printed = ((try? String(contentsOf: output, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline).joined(separator: " | ")
        noida.stop()
        throw TestBrokerError("noida-db did not listen within 10 s; it printed: \(printed)")
    }

    /// The port of the `kafka` line noida-db prints once it listens, if printed yet.
    static func kafkaPort(printed: String) -> Int? {
        for line in printed.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[0] == "kafka", fields[1].hasPrefix("127.0.0.1:") else { continue }
            return Int(fields[1].dropFirst("127.0.0.1:".count))
        }
        return nil
    }

    private init(bootstrapServers: String, process: Process, folder: URL) {
        self.bootstrapServers = bootstrapServers
        self.process = Mutex(process)
        self.folder = folder
    }

    /// Kills noida-db and removes its folder (idempotent).
    func stop() {
        // SIGKILL: on a clean exit noida-db first saves all it holds to its data directory.
        guard LocalBrokerProcess.kill(process) else { return }
        try? FileManager.default.removeItem(at: folder)
    }

    /// Creates a topic through the admin API (noida-db has no topic command).
    func createTopic(_ name: String, partitions: Int) throws {
        let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: bootstrapServers))
        try admin.createTopic(name, partitions: partitions, timeoutMs: 10_000)
    }
}
