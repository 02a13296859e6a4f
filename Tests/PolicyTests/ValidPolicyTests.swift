import Foundation
import Policy
import XCTest

final class ValidPolicyTests: XCTestCase {
    func testTheContractExampleParsesWithDefaults() throws {
        let text = """
        name: carrier-proxies
        monitor:
          - vm: 10555
            nic: 1
          - vm: 20555
            nic: 1
          - port: ens3f1
        watch:
          - vm: 10292
          - vm: 10612
            nic: 0
          - port: tap999i0
        traffic:
          - udp/5060
          - tcp/5060
        """
        let s = try PolicyParser.parse(text: text, file: "x.yaml", defaultName: "x").get()
        XCTAssertEqual(s.name, "carrier-proxies")
        XCTAssertEqual(s.monitors, [.vm(10555, nic: 1), .vm(20555, nic: 1), .port("ens3f1")])
        XCTAssertEqual(s.watch, .ports([.vm(10292, nic: nil), .vm(10612, nic: 0), .port("tap999i0")]))
        XCTAssertEqual(s.traffic, [TrafficClass(.udp, 5060), TrafficClass(.tcp, 5060)])
        XCTAssertEqual(s.media, .none, "media copies are off unless asked for")
    }

    func testMediaValues() throws {
        for (text, expected) in [("none", MediaCopy.none), ("rtcp", .rtcp), ("rtp", .rtp)] {
            let s = try PolicyParser.parse(text: "monitor: [{vm: 900, nic: 1}]\nwatch: all\nmedia: \(text)\n", file: "m.yaml", defaultName: "m").get()
            XCTAssertEqual(s.media, expected)
            XCTAssertEqual(s.summary.contains("media \(text)"), expected != .none, s.summary)
            XCTAssertEqual(s.resolved(with: .none).media, expected, "resolving tags keeps media")
        }
        XCTAssertTrue(MediaCopy.rtp > MediaCopy.rtcp && MediaCopy.rtcp > MediaCopy.none)
    }

    func testDefaultsAndWatchAll() throws {
        let s = try PolicyParser.parse(text: "monitor: [{vm: 900, nic: 1}]\nwatch: all\n", file: "d/all-vms.yaml", defaultName: "all-vms").get()
        XCTAssertEqual(s.name, "all-vms")
        XCTAssertEqual(s.traffic, [.sipUDP])
        XCTAssertEqual(s.watch, .all)
        let empty = try PolicyParser.parse(text: "monitor: [{vm: 900, nic: 1}]\nwatch: []\n", file: "e.yaml", defaultName: "e").get()
        XCTAssertEqual(empty.watch, .ports([]))
    }

    func testSelectorsMatchProxmoxPortNames() {
        let vm = PortSelector.vm(101, nic: nil), nic1 = PortSelector.vm(101, nic: 1)
        for name in ["tap101i0", "tap101i1", "veth101i0", "fwln101o1"] { XCTAssertTrue(vm.matches(portName: name), name) }
        for name in ["tap1011i0", "tap10i1", "bond0", "tap101i", "tap101", "fwbr101i0", "fwpr101p0", "tap101i0x"] { XCTAssertFalse(vm.matches(portName: name), name) }
        XCTAssertTrue(nic1.matches(portName: "tap101i1"))
        XCTAssertFalse(nic1.matches(portName: "tap101i0"))
    }

    func testIndexesAgreeWithSelectors() {
        let a = MirrorSession(name: "a", file: "a", monitors: [.vm(900, nic: 1)], watch: .all)
        let b = MirrorSession(name: "b", file: "b", monitors: [.port("ens3f1")], watch: .ports([.vm(101, nic: nil), .vm(103, nic: 0), .port("tap999i0")]))
        let set = PolicySet([b, a])
        XCTAssertEqual(set.sessions(watching: "veth200i0"), [0], "'all' watches every guest NIC")
        XCTAssertEqual(set.sessions(watching: "bond0"), [], "'all' means VM NICs, not the uplink")
        XCTAssertEqual(set.sessions(monitoring: "tap900i1"), [0])
        XCTAssertEqual(set.sessions(monitoring: "ens3f1"), [1])
        let names = ["tap101i0", "tap101i7", "fwln101o2", "veth101i0", "tap103i0", "tap103i1", "tap999i0", "tap1010i0", "bond0", "ens3f1", "tap900i1"]
        for name in names {
            let expected = set.sessions.indices.filter { i in
                switch set.sessions[i].watch {
                case .all: return ProxmoxPortName(name) != nil
                case let .ports(sel): return sel.contains { $0.matches(portName: name) }
                }
            }
            XCTAssertEqual(set.sessions(watching: name), expected, name)
            XCTAssertEqual(set.sessions(monitoring: name), set.sessions.indices.filter { i in set.sessions[i].monitors.contains { $0.matches(portName: name) } }, name)
        }
    }

    func testExamplePoliciesInTheRepositoryAreValid() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../policies").standardized.path
        let files = try PolicyLoader.files(at: dir)
        XCTAssertGreaterThanOrEqual(files.count, 3, "policies/ holds the thesis' three scenarios")
        let set = try PolicyLoader.load(paths: [dir]).get()
        XCTAssertEqual(set.sessions.count, files.count)
    }

    func testEditorLeftoversAreIgnored() {
        for name in ["a.yaml", "b.yml"] { XCTAssertTrue(PolicyLoader.isPolicyFileName(name), name) }
        for name in [".a.yaml.swp", "a.yaml~", ".#a.yaml", "a.yaml.bak", "notes.txt", ".hidden.yaml", "4913"] {
            XCTAssertFalse(PolicyLoader.isPolicyFileName(name), name)
        }
    }
}

final class CollectorPolicyTests: XCTestCase {
    func testCollectorsAndRanges() throws {
        let text = "name: homer\nmonitor:\n  - collector: 192.0.2.50\n  - collector: 198.51.100.7\n    tunnel: vx0\n    session_id: 42\nwatch: [{tag: sip-proxy}]\ntraffic: [udp/5060-5090, udp/5080-5100, tcp/5061]\n"
        let s = try PolicyParser.parse(text: text, file: "h.yaml", defaultName: "h").get()
        XCTAssertEqual(s.monitors, [])
        XCTAssertEqual(s.collectors, [Collector(address: [192, 0, 2, 50], sessionID: Collector.defaultSessionID(for: "homer")),
                                      Collector(address: [198, 51, 100, 7], tunnel: "vx0", sessionID: 42)])
        XCTAssertEqual(s.traffic.map(\.description), ["udp/5060-5100", "tcp/5061"])
        XCTAssertEqual(Collector.defaultSessionID(for: "homer"), Collector.defaultSessionID(for: "homer"), "stable")
        XCTAssertTrue((1...1023).contains(Collector.defaultSessionID(for: "homer")))
    }

    func testBrokenCollectorsAndRanges() {
        let cases: [(String, String)] = [
            ("monitor: [{collector: 192.0.2}]\nwatch: []\n", "b.yaml:1:23: error: invalid IPv4 address '192.0.2'"),
            ("monitor: [{collector: 'fd00::50'}]\nwatch: []\n", "b.yaml:1:23: error: IPv6 collectors are not supported yet: give the collector's IPv4 address"),
            ("monitor: [{collector: 127.0.0.1}]\nwatch: []\n", "b.yaml:1:23: error: 127.0.0.1 cannot be a collector (unspecified, loopback, multicast or broadcast)"),
            ("monitor: [{collector: 192.0.2.5, session_id: 0}]\nwatch: []\n", "b.yaml:1:46: error:"),
            ("monitor: [{collector: 192.0.2.5, sesion_id: 3}]\nwatch: []\n", "b.yaml:1:34: error: unknown key 'sesion_id'; did you mean 'session_id'?"),
            ("monitor: [{collector: 192.0.2.5}, {collector: 192.0.2.5}]\nwatch: []\n", "duplicate monitor entry collector 192.0.2.5"),
            ("monitor: [{vm: 900, nic: 1}]\nwatch: []\ntraffic: [udp/5090-5060]\n", "b.yaml:3:11: error: port range 5090-5060 starts after it ends"),
            ("monitor: [{vm: 900, nic: 1}]\nwatch: []\ntraffic: [udp/5060-]\n", "b.yaml:3:11: error: port must be in 1..65535, found '5060-'"),
        ]
        for (text, expected) in cases {
            guard case let .failure(e) = PolicyParser.parse(text: text, file: "b.yaml", defaultName: "b") else { XCTFail("accepted: \(text)"); continue }
            XCTAssertTrue(e.description.contains(expected), "\(text)\nexpected: \(expected)\ngot: \(e.description)")
        }
    }
}
