import Foundation
import OpenFlow
import TestSupport
import XCTest

/// A raw TCP peer for hostile-input tests.
final class RawPeer {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw TimedOut(what: "connect to 127.0.0.1:\(port)") }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Reads until the peer closes or `timeout` passes; returns what arrived and whether it closed.
    func readUntilClosed(timeout: Double) -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (out, true) }
            if n > 0 { out += buffer[0..<n] } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return (out, true) }
        }
        return (out, false)
    }

    deinit { close(fd) }
}

/// Issue 3, item 6: bad peers are closed with a logged reason; the daemon and other bridges carry on.
final class BadPeerTests: XCTestCase {
    var lab: Lab!
    var sipspan: SipspanProcess!

    override func setUpWithError() throws {
        lab = try Lab()
        try lab.ovs.addBridge("vmbr0", dpid: 0x71, ports: [("tap101i0", 1, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        sipspan = try lab.startSipspan(extraArgs: ["--handshake-timeout", "1"])
        try lab.ovs.setController("vmbr0", port: sipspan.port)
        try lab.waitForFlows("vmbr0", containing: ["in_port=1,tp_dst=5060"])
    }

    override func tearDown() { lab?.stop() }

    private func header(_ version: UInt8, _ type: UInt8, _ length: Int, xid: UInt32 = 1) -> [UInt8] {
        [version, type, UInt8(length >> 8), UInt8(length & 0xff), UInt8(xid >> 24), UInt8((xid >> 16) & 0xff), UInt8((xid >> 8) & 0xff), UInt8(xid & 0xff)]
    }
    private var hello13: [UInt8] { header(4, 0, 16) + [0, 1, 0, 8, 0, 0, 0, 0x10] }

    func testOpenFlow10PeerGetsHelloFailedAndIsClosed() throws {
        let p = try RawPeer(port: sipspan.port)
        p.send(header(1, 0, 8))
        let (bytes, closed) = p.readUntilClosed(timeout: 3)
        XCTAssertTrue(closed)
        var framer = Framer()
        framer.append(bytes)
        var messages: [Message] = []
        while let f = try framer.nextFrame() { messages.append(try Message.decode(f).message) }
        XCTAssertEqual(messages.first, .hello(versions: [4]))
        let errors = messages.compactMap { m -> (UInt16, UInt16)? in if case let .error(t, c, _) = m { return (t, c) }; return nil }
        XCTAssertEqual(errors.count, 1)
        XCTAssertEqual(errors.first?.0, 0, "OFPET_HELLO_FAILED")
        XCTAssertEqual(errors.first?.1, 0, "OFPHFC_INCOMPATIBLE")
        try waitUntil("the reason is logged") { !sipspan.lines(containing: "version negotiation failed").isEmpty }
    }

    func testLyingLengthsGarbageUnknownTypesAndSilenceAreClosed() throws {
        let cases: [(String, [UInt8])] = [
            ("length below header", hello13 + header(4, 2, 4)),
            ("unknown type", hello13 + header(4, 200, 8)),
            ("garbage", hello13 + (0..<200).map { UInt8(truncatingIfNeeded: $0 &* 37) }),
            ("wrong version after hello", hello13 + header(1, 2, 8)),
            ("message before hello", header(4, 2, 8)),
            ("length larger than what is sent, then silence", hello13 + header(4, 2, 0xffff) + [1, 2, 3]),
            ("silent peer", []),
            ("truncated features reply", hello13 + header(4, 6, 12) + [0, 0, 0, 0]),
        ]
        for (what, bytes) in cases {
            let p = try RawPeer(port: sipspan.port)
            p.send(bytes)
            let (_, closed) = p.readUntilClosed(timeout: 4)
            XCTAssertTrue(closed, "\(what): connection should be closed")
        }
        XCTAssertTrue(sipspan.process.isRunning)
        XCTAssertEqual(sipspan.totals.disconnects, 0, "the real bridge stayed connected")
        XCTAssertFalse(sipspan.lines(containing: "malformed message").isEmpty)
        XCTAssertFalse(sipspan.lines(containing: "handshake not completed").isEmpty)
    }

    func testAFloodOfBadPeersLeavesTheRealBridgeServed() throws {
        var peers: [RawPeer] = []
        var rng = SeededGenerator(seed: 300)
        for i in 0..<300 {
            let p = try RawPeer(port: sipspan.port)
            p.send(i % 2 == 0 ? (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) } : hello13)
            peers.append(p)
        }
        // While they are connected, a policy edit still reaches the real bridge promptly.
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}, {vm: 104}]\n")
        try lab.ovs.vsctl(["add-port", "vmbr0", "tap104i0", "--", "set", "interface", "tap104i0", "type=dummy", "ofport_request=2"])
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
        peers.removeAll()
        XCTAssertTrue(sipspan.process.isRunning)
        let rss = (try? String(contentsOfFile: "/proc/\(sipspan.pid)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("VmHWM") } ?? "?"
        let kb = Int(rss.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "0") ?? 0
        XCTAssertLessThan(kb, 200 * 1024, "memory stays bounded: \(rss)")
        XCTAssertLessThanOrEqual(sipspan.lines(containing: "connection closed").count, 60, "closing reasons are rate-limited")
    }
}
