import Foundation
import XCTest

/// Runs a command to completion (posix_spawn + waitpid) and returns its exit status and output.
///
/// Output goes through temp files rather than pipes, and the wait is a plain waitpid: a daemon that
/// detaches (ovsdb-server --detach) keeps inherited descriptors open, which would hang a pipe reader.
@discardableResult
public func run(_ argv: [String], env: [String: String] = [:], check: Bool = true, daemon: Bool = false,
         file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, out: String, err: String) {
    let base = NSTemporaryDirectory() + "sipspan-run-\(getpid())-\(UUID().uuidString)"
    let outPath = daemon ? "/dev/null" : base + ".out", errPath = daemon ? "/dev/null" : base + ".err"
    defer { if !daemon { unlink(outPath); unlink(errPath) } }
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, cEnv)
    guard rc == 0 else {
        XCTFail("cannot run \(argv[0]): \(String(cString: strerror(rc)))", file: file, line: line)
        throw CommandFailed(argv: argv, status: -1, stderr: "spawn failed")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let out = daemon ? "" : ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    let err = daemon ? "" : ((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    if check && exit != 0 {
        XCTFail("command failed (\(exit)): \(argv.joined(separator: " "))\n\(err)", file: file, line: line)
        throw CommandFailed(argv: argv, status: exit, stderr: err)
    }
    return (exit, out, err)
}

public struct CommandFailed: Error, CustomStringConvertible {
    let argv: [String]
    let status: Int32
    let stderr: String
    public var description: String { "\(argv.joined(separator: " ")) exited \(status): \(stderr)" }
}

/// Polls `condition` until it holds or `timeout` seconds pass; never a bare sleep.
public func waitUntil(timeout: Double = 5, interval: Double = 0.02, _ what: String, file: StaticString = #filePath, line: UInt = #line,
               _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: interval)
    }
    if try condition() { return }
    XCTFail("timed out after \(timeout) s waiting for: \(what)", file: file, line: line)
    throw TimedOut(what: what)
}

public struct TimedOut: Error {
    public let what: String
    public init(what: String) { self.what = what }
}

/// The directory holding the built products (`.build/debug`), found from the test bundle.
public func productsDirectory() -> URL {
    if let override = ProcessInfo.processInfo.environment["SIPSPAN_BIN_DIR"] { return URL(fileURLWithPath: override) }
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    return Bundle.main.bundleURL
}

/// The built `sipspan` executable; fails the test clearly if it was not built.
public func sipspanBinary(file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let path = productsDirectory().appendingPathComponent("sipspan").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        XCTFail("\(path) not found: run `swift build` before `swift test` (the README's test command does)", file: file, line: line)
        throw TimedOut(what: "sipspan binary")
    }
    return path
}
