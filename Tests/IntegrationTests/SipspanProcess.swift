import Foundation
import TestSupport
import XCTest

/// A `sipspan serve` started by a test: its log goes to a file; it is stopped by its PID only.
final class SipspanProcess {
    let process = Process()
    let logPath: String
    private(set) var port: UInt16 = 0

    init(policy: [String], extraArgs: [String] = [], logPath: String, listenPort: UInt16 = 0) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: try sipspanBinary())
        process.arguments = ["serve", "--listen", "127.0.0.1:\(listenPort)", "--status", "127.0.0.1:0", "--log-level", "debug"] + policy.flatMap { ["--policy", $0] } + extraArgs
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var found: UInt16 = 0
        try waitUntil(timeout: 10, "sipspan to listen") {
            guard process.isRunning else { return true }
            found = listeningPort() ?? 0
            return found != 0
        }
        guard process.isRunning else {
            XCTFail("sipspan exited at start:\n\(self.log)")
            throw TimedOut(what: "sipspan start")
        }
        port = found
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private func listeningPort() -> UInt16? {
        for line in log.split(separator: "\n") where line.contains("listening") {
            if let r = line.range(of: "address=127.0.0.1:") {
                let digits = line[r.upperBound...].prefix { $0.isNumber }
                return UInt16(digits)
            }
        }
        return nil
    }

    /// Lines of the log containing `text`.
    func lines(containing text: String) -> [String] { log.split(separator: "\n").map(String.init).filter { $0.contains(text) } }

    func signal(_ sig: Int32) { if process.isRunning { kill(pid, sig) } }

    func kill9() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}
