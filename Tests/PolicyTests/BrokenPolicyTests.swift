import Policy
import XCTest

/// Broken policy files, each with the file:line:column and message an operator should see.
final class BrokenPolicyTests: XCTestCase {
    struct Case {
        let name: String
        let text: String
        let line: Int
        let column: Int
        let message: String
    }

    static let ok = "monitor:\n  - vm: 900\n    nic: 1\n"

    static let cases: [Case] = [
        Case(name: "empty file", text: "", line: 1, column: 1, message: "empty policy file"),
        Case(name: "only comments", text: "# nothing here\n# at all\n", line: 1, column: 1, message: "empty policy file"),
        Case(name: "top level is a list", text: "- vm: 101\n", line: 1, column: 1, message: "expected a mapping with 'monitor' and 'watch', found a list"),
        Case(name: "top level is a scalar", text: "hello\n", line: 1, column: 1, message: "found 'hello'"),
        Case(name: "missing monitor", text: "watch:\n  - vm: 101\n", line: 1, column: 1, message: "missing required key 'monitor'"),
        Case(name: "missing watch", text: ok, line: 1, column: 1, message: "missing required key 'watch'"),
        Case(name: "misspelled watch", text: ok + "wacth:\n  - vm: 101\n", line: 4, column: 1, message: "unknown key 'wacth'; did you mean 'watch'?"),
        Case(name: "misspelled monitor", text: "monitr:\n  - vm: 900\n    nic: 1\nwatch: []\n", line: 1, column: 1, message: "did you mean 'monitor'?"),
        Case(name: "unknown key far from all", text: ok + "watch: []\ncolour: blue\n", line: 5, column: 1, message: "unknown key 'colour' (expected one of: name, monitor, watch, traffic, media)"),
        Case(name: "misspelled entry key", text: ok + "watch:\n  - vn: 101\n", line: 5, column: 5, message: "unknown key 'vn'; did you mean 'vm'?"),
        Case(name: "vm id too small", text: ok + "watch:\n  - vm: 99\n", line: 5, column: 9, message: "a VM id must be in 100..999999999, found 99"),
        Case(name: "vm id too large", text: ok + "watch:\n  - vm: 1000000000\n", line: 5, column: 9, message: "a VM id must be in 100..999999999"),
        Case(name: "vm id is a word", text: ok + "watch:\n  - vm: proxy1\n", line: 5, column: 9, message: "expected a VM id (100..999999999), found 'proxy1'"),
        Case(name: "vm id quoted", text: ok + "watch:\n  - vm: \"101\"\n", line: 5, column: 9, message: "found string '101'"),
        Case(name: "vm id negative", text: ok + "watch:\n  - vm: -101\n", line: 5, column: 9, message: "expected a VM id"),
        Case(name: "vm id is a list", text: ok + "watch:\n  - vm: [101, 102]\n", line: 5, column: 9, message: "found a list"),
        Case(name: "nic out of range", text: ok + "watch:\n  - vm: 101\n    nic: 32\n", line: 6, column: 10, message: "a NIC number must be in 0..31, found 32"),
        Case(name: "nic without vm", text: ok + "watch:\n  - nic: 1\n", line: 5, column: 5, message: "'nic' needs a 'vm'"),
        Case(name: "monitor without nic", text: "monitor:\n  - vm: 900\nwatch: []\n", line: 2, column: 5, message: "a monitor entry needs 'nic'"),
        Case(name: "monitor empty", text: "monitor: []\nwatch: []\n", line: 1, column: 10, message: "'monitor' must name at least one NIC"),
        Case(name: "monitor is a scalar", text: "monitor: 900\nwatch: []\n", line: 1, column: 10, message: "'monitor' must be a list of entries"),
        Case(name: "watch is a map", text: ok + "watch:\n  vm: 101\n", line: 5, column: 3, message: "'watch' must be a list of entries"),
        Case(name: "watch is a wrong word", text: ok + "watch: everything\n", line: 4, column: 8, message: "'watch' must be a list of VMs/ports or 'all', found 'everything'"),
        Case(name: "media unknown value", text: ok + "watch: []\nmedia: video\n", line: 5, column: 8, message: "'media' must be one of none, rtcp, rtp, found 'video'"),
        Case(name: "media capitalised", text: ok + "watch: []\nmedia: RTCP\n", line: 5, column: 8, message: "did you mean 'rtcp'?"),
        Case(name: "media is a list", text: ok + "watch: []\nmedia: [rtp]\n", line: 5, column: 8, message: "'media' must be one of none, rtcp, rtp, found a list"),
        Case(name: "watch All capitalised", text: ok + "watch: All\n", line: 4, column: 8, message: "did you mean 'all'?"),
        Case(name: "entry is a bare number", text: ok + "watch:\n  - 101\n", line: 5, column: 5, message: "write '- vm: 101'"),
        Case(name: "port and vm together", text: ok + "watch:\n  - vm: 101\n    port: tap101i0\n", line: 5, column: 5, message: "either 'port' or 'vm'"),
        Case(name: "port name too long", text: ok + "watch:\n  - port: this-name-is-way-too-long\n", line: 5, column: 11, message: "invalid port name"),
        Case(name: "port name with space", text: ok + "watch:\n  - port: \"tap 1\"\n", line: 5, column: 11, message: "invalid port name"),
        Case(name: "duplicate watch entry", text: ok + "watch:\n  - vm: 101\n  - vm: 101\n", line: 6, column: 5, message: "duplicate watch entry vm 101"),
        Case(name: "duplicate key", text: ok + "watch: []\nwatch: all\n", line: 5, column: 1, message: "duplicate key 'watch'"),
        Case(name: "traffic unknown protocol", text: ok + "watch: all\ntraffic:\n  - sctp/5060\n", line: 6, column: 5, message: "unknown protocol 'sctp': expected udp or tcp"),
        Case(name: "traffic misspelled protocol", text: ok + "watch: all\ntraffic:\n  - upd/5060\n", line: 6, column: 5, message: "did you mean 'udp'?"),
        Case(name: "traffic port zero", text: ok + "watch: all\ntraffic:\n  - udp/0\n", line: 6, column: 5, message: "port must be in 1..65535, found '0'"),
        Case(name: "traffic port too large", text: ok + "watch: all\ntraffic:\n  - tcp/65536\n", line: 6, column: 5, message: "port must be in 1..65535, found '65536'"),
        Case(name: "traffic without slash", text: ok + "watch: all\ntraffic:\n  - udp5060\n", line: 6, column: 5, message: "expected PROTOCOL/PORT"),
        Case(name: "traffic is a scalar", text: ok + "watch: all\ntraffic: udp/5060\n", line: 5, column: 10, message: "'traffic' must be a list"),
        Case(name: "traffic empty list", text: ok + "watch: all\ntraffic: []\n", line: 5, column: 10, message: "'traffic' is empty"),
        Case(name: "duplicate traffic", text: ok + "watch: all\ntraffic:\n  - udp/5060\n  - udp/5060\n", line: 7, column: 5, message: "duplicate traffic entry udp/5060"),
        Case(name: "name with slash", text: "name: a/b\n" + ok + "watch: []\n", line: 1, column: 7, message: "invalid session name 'a/b'"),
        Case(name: "name is a list", text: "name: [a]\n" + ok + "watch: []\n", line: 1, column: 7, message: "'name' must be a string"),
        Case(name: "monitor also watched", text: ok + "watch:\n  - vm: 900\n    nic: 1\n", line: 2, column: 3, message: "both a monitor and watched"),
        Case(name: "tab indentation", text: "monitor:\n\t- vm: 900\n", line: 2, column: 1, message: "tabs"),
        Case(name: "bad indentation", text: ok + "watch:\n  - vm: 101\n   - vm: 102\n", line: 6, column: 4, message: "YAML syntax"),
        Case(name: "unclosed flow list", text: ok + "watch: [{vm: 101}\n", line: 5, column: 1, message: "YAML syntax"),
        Case(name: "invalid UTF-8", text: "", line: 2, column: 6, message: "not valid UTF-8"),
    ]

    func testEveryBrokenFileIsReportedAtTheRightPlace() {
        XCTAssertGreaterThanOrEqual(Self.cases.count, 30)
        for c in Self.cases {
            let bytes: [UInt8] = c.name == "invalid UTF-8" ? Array("monitor:\n  - vm\u{0}".utf8.prefix(14)) + [0xC3, 0x28] + Array(": 900\n".utf8) : Array(c.text.utf8)
            switch PolicyParser.parse(bytes: bytes, file: "p/\(c.name).yaml", defaultName: "x") {
            case .success:
                XCTFail("\(c.name): accepted")
            case let .failure(e):
                let d = e.diagnostics
                guard let hit = d.first(where: { $0.message.contains(c.message) }) else {
                    XCTFail("\(c.name): no diagnostic containing '\(c.message)'; got:\n\(e)")
                    continue
                }
                XCTAssertEqual(hit.location.file, "p/\(c.name).yaml", c.name)
                XCTAssertEqual("\(hit.location.line):\(hit.location.column)", "\(c.line):\(c.column)", "\(c.name): \(hit)")
                XCTAssertTrue(hit.description.hasPrefix("p/\(c.name).yaml:\(c.line):\(c.column): error: "), hit.description)
            }
        }
    }

    func testAllErrorsOfAFileAreReportedNotJustTheFirst() throws {
        let text = "monitor:\n  - vm: 9\n    nic: 1\nwatch:\n  - vm: 101\n    nic: 99\ntraffic:\n  - xyz/1\n"
        guard case let .failure(e) = PolicyParser.parse(text: text, file: "f.yaml", defaultName: "f") else { return XCTFail("accepted") }
        XCTAssertEqual(e.diagnostics.map { "\($0.location.line):\($0.location.column)" }, ["2:9", "6:10", "8:5"])
    }

    func testDuplicateSessionNamesAcrossFilesNameBothPlaces() {
        let a = Array("name: proxies\nmonitor: [{vm: 900, nic: 1}]\nwatch: all\n".utf8)
        let b = Array("# other node\nname: proxies\nmonitor: [{vm: 901, nic: 1}]\nwatch: []\n".utf8)
        guard case let .failure(e) = PolicyLoader.load(contents: [("d/a.yaml", a), ("d/b.yaml", b)]) else { return XCTFail("accepted") }
        XCTAssertEqual(e.description, "d/b.yaml:2:7: error: duplicate session name 'proxies'\nd/a.yaml:1:7: note: 'proxies' is first defined here")
    }
}
