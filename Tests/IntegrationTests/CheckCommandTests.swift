import Foundation
import TestSupport
import XCTest

/// The real `sipspan check` binary: output format, sorting, exit codes.
final class CheckCommandTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = try TestSupport.run(["mktemp", "-d", "/tmp/sipspan-check.XXXXXX"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func write(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8)
    }

    func testPrintsEveryErrorOfEveryFileSortedAndExitsOne() throws {
        try write("b.yaml", "monitor:\n  - vm: 900\n    nic: 1\nwacth: []\n")
        try write("a.yaml", "monitor:\n  - vm: 9\n    nic: 1\nwatch:\n  - vm: 101\n    nic: 40\n")
        try write("c.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: all\n")
        try write(".b.yaml.swp", "garbage \u{0}")
        try write("notes.txt", "not a policy")
        let r = try TestSupport.run([try sipspanBinary(), "check", dir], check: false)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.out, """
            \(dir)/a.yaml:2:9: error: a VM id must be in 100..999999999, found 9
            \(dir)/a.yaml:6:10: error: a NIC number must be in 0..31, found 40
            \(dir)/b.yaml:1:1: error: missing required key 'watch' (a list of VMs/ports, or 'all')
            \(dir)/b.yaml:4:1: error: unknown key 'wacth'; did you mean 'watch'?

            """)
    }

    func testValidFilesExitZeroWithASummary() throws {
        try write("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\ntraffic: [udp/5060, tcp/5060]\n")
        let r = try TestSupport.run([try sipspanBinary(), "check", "\(dir)/p.yaml"], check: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "p: monitor vm 900 nic 1; watch vm 101; traffic udp/5060, tcp/5060\n1 session(s) valid\n")
    }

    func testJSONFormatAndMissingPath() throws {
        try write("p.yaml", "monitor: []\nwatch: []\n")
        let r = try TestSupport.run([try sipspanBinary(), "check", "--format", "json", dir], check: false)
        XCTAssertEqual(r.status, 1)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        XCTAssertEqual(obj?["valid"] as? Bool, false)
        let diags = obj?["diagnostics"] as? [[String: Any]]
        XCTAssertEqual(diags?.first?["line"] as? Int, 1)
        XCTAssertEqual(diags?.first?["column"] as? Int, 10)
        let missing = try TestSupport.run([try sipspanBinary(), "check", "\(dir)/nope.yaml"], check: false)
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.out, "\(dir)/nope.yaml:1:1: error: no such file or directory\n")
    }

    func testRepositoryExamplesPassCheck() throws {
        let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../policies").standardized.path
        let r = try TestSupport.run([try sipspanBinary(), "check", policies], check: false)
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains("every-vm: monitor vm 902 nic 1; watch all VM NICs"), r.out)
    }

    func testServeRefusesABrokenPolicyAtStartWithExitOne() throws {
        try write("p.yaml", "monitor: [{vm: 900}]\nwatch: all\n")
        let r = try TestSupport.run([try sipspanBinary(), "serve", "--policy", dir, "--listen", "127.0.0.1:0"], check: false)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("\(dir)/p.yaml:1:12: error: a monitor entry needs 'nic'"), r.err)
    }
}

/// The shipped systemd units give the daemon more descriptors than it may hold connections.
final class DeployUnitTests: XCTestCase {
    func testEveryUnitsFileLimitIsAboveTheConnectionCap() throws {
        let help = try TestSupport.run([try sipspanBinary(), "serve", "--help"]).out
        // The option's help may wrap: read from the option to its "(default: N)".
        let start = try XCTUnwrap(help.range(of: "--max-connections"), help)
        let rest = help[start.upperBound...]
        let cap = try XCTUnwrap(rest.range(of: "default: ").map { Int(rest[$0.upperBound...].prefix { $0.isNumber }) } ?? nil, String(rest.prefix(300)))
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy").standardized.path
        let units = try FileManager.default.contentsOfDirectory(atPath: deploy).filter { $0.hasSuffix(".service") }
        XCTAssertFalse(units.isEmpty)
        for unit in units {
            let text = try String(contentsOfFile: "\(deploy)/\(unit)", encoding: .utf8)
            let limit = text.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") }.flatMap { Int($0.dropFirst("LimitNOFILE=".count)) }
            XCTAssertNotNil(limit, "\(unit) sets LimitNOFILE")
            XCTAssertGreaterThan(limit ?? 0, cap + 256, "\(unit): the file limit leaves room above --max-connections \(cap)")
        }
    }
}
