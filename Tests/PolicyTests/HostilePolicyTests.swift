import Foundation
import Policy
import TestSupport
import XCTest

/// Anything a text editor can produce is refused with an error, quickly and in bounded memory.
final class HostilePolicyTests: XCTestCase {
    private func refusedQuickly(_ bytes: [UInt8], _ what: String, containing: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let start = Date()
        let result = PolicyParser.parse(bytes: bytes, file: "h.yaml", defaultName: "h")
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertLessThan(elapsed, 1.0, "\(what) took \(elapsed) s", file: file, line: line)
        guard case let .failure(e) = result else { return XCTFail("\(what) was accepted", file: file, line: line) }
        XCTAssertFalse(e.diagnostics.isEmpty, file: file, line: line)
        if let containing {
            XCTAssertTrue(e.description.contains(containing), "\(what): \(e)", file: file, line: line)
        }
    }

    func testAliasBombIsRefused() {
        var text = "a0: &a0 [{vm: 101}, {vm: 102}]\n"
        for i in 1...21 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        text += "monitor: [{vm: 900, nic: 1}]\nwatch: *a21\n"
        refusedQuickly(Array(text.utf8), "alias bomb", containing: "each 'watch' entry must be a mapping")
        // A flat list of 12,000 distinct entries (under the size limit) goes past the node budget.
        let flat = "monitor: [{vm: 900, nic: 1}]\nwatch: [" + (0..<12_000).map { "{vm: \(100_000 + $0)}" }.joined(separator: ",") + "]\n"
        refusedQuickly(Array(flat.utf8), "12,000 entries", containing: "too large")
        guard case let .failure(e) = PolicyParser.parse(text: flat, file: "h.yaml", defaultName: "h") else { return }
        XCTAssertLessThanOrEqual(e.diagnostics.count, 51, "diagnostics are bounded")
    }

    func testThousandsOfDuplicatesStayWithinTheDiagnosticCap() {
        // 6,000 copies of one entry: every duplicate is a diagnostic, and all of them count against the cap.
        let text = "monitor: [{vm: 900, nic: 1}]\nwatch:\n" + String(repeating: "  - {vm: 101}\n", count: 6000) + "traffic: [" + Array(repeating: "udp/5060", count: 200).joined(separator: ", ") + "]\n"
        guard case let .failure(e) = PolicyParser.parse(text: text, file: "d.yaml", defaultName: "d") else { return XCTFail("accepted") }
        XCTAssertLessThanOrEqual(e.diagnostics.count, 51, "at most 50 diagnostics and one 'too many errors'")
        XCTAssertTrue(e.diagnostics.contains { $0.message.contains("duplicate watch entry") })
        XCTAssertTrue(e.diagnostics.contains { $0.message.contains("too many errors") })
        XCTAssertLessThanOrEqual(e.description.split(separator: "\n").count, 102, "a bounded number of lines, notes included")
    }

    func testAliasBombInsideWatchIsRefused() {
        var text = "monitor: [{vm: 900, nic: 1}]\nwatch:\n"
        text += "  - &a0 {vm: 101}\n"
        refusedQuickly(Array((text + "  - *a0\n").utf8), "aliased duplicate", containing: "duplicate watch entry")
    }

    func testDeepNestingIsRefused() {
        refusedQuickly(Array(("watch: " + String(repeating: "[", count: 20_000)).utf8), "20,000 levels of nesting")
        refusedQuickly(Array(("monitor:\n" + (0..<5000).map { String(repeating: " ", count: $0 % 50) + "- " }.joined()).utf8), "nested block lists")
    }

    func testRandomBytesAreRefused() {
        var rng = SeededGenerator(seed: 0x9a40)
        for _ in 0..<5 {
            let bytes = (0..<65_536).map { _ in UInt8.random(in: 0...255, using: &rng) }
            refusedQuickly(bytes, "64 KiB of random bytes")
        }
        // Random printable text: valid UTF-8, still not a policy.
        let printable = (0..<65_536).map { _ in UInt8.random(in: 0x20...0x7e, using: &rng) }
        refusedQuickly(printable, "64 KiB of random printable text")
    }

    func testNulAndInvalidUTF8AreRefused() {
        refusedQuickly(Array("monitor: [{vm: 900, nic: 1}]\n".utf8) + [0] + Array("watch: all\n".utf8), "NUL byte", containing: "1:")
        refusedQuickly([0xff, 0xfe, 0x00, 0x41], "UTF-16 BOM", containing: "UTF-8")
    }

    func testHugeFileIsRefusedBeforeParsing() throws {
        let path = NSTemporaryDirectory() + "sipspan-huge-\(getpid()).yaml"
        defer { unlink(path) }
        let chunk = Data(String(repeating: "# padding line of a very large policy file\n", count: 1024).utf8)
        FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        for _ in 0..<(50 * 1024 * 1024 / chunk.count) { h.write(chunk) }
        try h.close()
        let start = Date()
        let result = PolicyLoader.load(paths: [path])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0)
        guard case let .failure(e) = result else { return XCTFail("50 MiB accepted") }
        XCTAssertTrue(e.description.contains("\(path):1:1: error: file is"), e.description)
        XCTAssertTrue(e.description.contains("limited to 262144 bytes"), e.description)
    }

    func testCRLFAndBOMAreAccepted() throws {
        let text = "\u{FEFF}name: crlf\r\nmonitor:\r\n  - vm: 900\r\n    nic: 1\r\nwatch:\r\n  - vm: 101\r\n"
        let s = try PolicyParser.parse(bytes: Array(text.utf8), file: "c.yaml", defaultName: "c").get()
        XCTAssertEqual(s.name, "crlf")
        XCTAssertEqual(s.watch, .ports([.vm(101, nic: nil)]))
    }
}
