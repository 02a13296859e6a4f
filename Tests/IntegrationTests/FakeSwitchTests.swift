import Foundation
import OpenFlow
import TestSupport
import XCTest

/// Peers that complete the handshake and then misbehave: sipspan bounds what they cost and keeps
/// serving the real bridge.
final class FakeSwitchTests: XCTestCase {
    var lab: Lab!
    var sipspan: SipspanProcess!

    override func setUpWithError() throws {
        lab = try Lab()
        try lab.ovs.addBridge("vmbr0", dpid: 0xa1, ports: [("tap101i0", 1, nil), ("tap103i0", 2, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: all\n")
        sipspan = try lab.startSipspanControlling(containing: ["in_port=2,tp_dst=5060"], extraArgs: ["--echo-interval", "1", "--dead-peer-timeout", "30"])
    }

    override func tearDown() { lab?.stop() }

    func testASwitchThatStopsReadingDoesNotStallTheOthers() throws {
        // 3,000 watched VM NICs and a monitor: a flow set of about 2 MB that this switch never reads.
        let ports = (0..<3000).map { PortDescription(portNumber: UInt32($0 + 1), name: "tap\(20000 + $0)i0") } + [PortDescription(portNumber: 4000, name: "tap900i1")]
        let stalled = try FakeSwitch(port: sipspan.port, datapathID: 0xbad, ports: ports)
        var rcvbuf: Int32 = 4096
        setsockopt(stalled.peer.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, socklen_t(MemoryLayout<Int32>.size))
        // Answer the handshake and sync, then read nothing more.
        stalled.pump(seconds: 10) { self.sipspan.bridge(0x0bad) != nil }
        Thread.sleep(forTimeInterval: 0.3)
        let start = Date()
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        try waitUntil(timeout: 3, "the real bridge gets the edit") { try !self.lab.ovs.flows("vmbr0").contains { $0.contains("in_port=2,tp_dst=5060") } }
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.0, "an edit reaches the real bridge while another switch is stuck")
        XCTAssertTrue(sipspan.process.isRunning)
        withExtendedLifetime(stalled) {}
    }

    func testALiveDatapathCannotBeTakenOver() throws {
        let ports = [PortDescription(portNumber: 1, name: "tap101i0"), PortDescription(portNumber: 3, name: "tap900i1")]
        let first = try FakeSwitch(port: sipspan.port, datapathID: 0xd0d0, ports: ports)
        first.pump(seconds: 5) { self.sipspan.bridge(0xd0d0) != nil }
        // An impostor claims the same datapath id and reconnects 0.2 s after each refusal.
        var refused = 0
        for _ in 0..<5 {
            let impostor = try FakeSwitch(port: sipspan.port, datapathID: 0xd0d0, ports: [])
            if !impostor.pump(seconds: 2) { refused += 1 }
            XCTAssertTrue(first.pump(seconds: 0.2), "the answering connection keeps its datapath")
        }
        XCTAssertEqual(refused, 5, "every impostor connection is closed")
        try waitUntil("the refusals are counted") { self.sipspan.totals.claimsRefused == 5 }
        XCTAssertFalse(sipspan.lines(containing: "newcomer refused").isEmpty, "the operator is told")
        XCTAssertNotNil(sipspan.bridge(0xd0d0), "still served")
        XCTAssertEqual(sipspan.totals.disconnects, 0)
    }

    func testASilentConnectionGivesItsDatapathToANewOne() throws {
        let ports = [PortDescription(portNumber: 1, name: "tap101i0"), PortDescription(portNumber: 3, name: "tap900i1")]
        let first = try FakeSwitch(port: sipspan.port, datapathID: 0xd0d1, ports: ports)
        first.pump(seconds: 5) { self.sipspan.bridge(0xd0d1) != nil }
        // The first goes silent (stops answering echoes): after the echo interval (1 s here) plus the
        // echo reply timeout (2 s), a reconnecting bridge is served.
        Thread.sleep(forTimeInterval: 5)
        let second = try FakeSwitch(port: sipspan.port, datapathID: 0xd0d1, ports: ports)
        XCTAssertTrue(second.pump(seconds: 2), "the new connection is kept")
        XCTAssertFalse(first.pump(seconds: 1), "the silent one is closed")
        XCTAssertFalse(sipspan.lines(containing: "went silent; the new one takes over").isEmpty)
    }

    func testAFloodOfPortAnnouncementsIsBounded() throws {
        let fake = try FakeSwitch(port: sipspan.port, datapathID: 0xf00d, ports: [])
        fake.pump(seconds: 5) { self.sipspan.bridge(0xf00d) != nil }
        // 70,000 distinct ports announced as fast as the socket takes them (sends fail once sipspan closes).
        for batch in 0..<70 {
            var w = ByteWriter(capacity: 80 * 1000)
            for i in 0..<1000 {
                let n = batch * 1000 + i + 1
                Message.portStatus(reason: .add, port: PortDescription(portNumber: UInt32(n), name: "p\(n)")).encode(xid: 0, into: &w)
            }
            fake.peer.send(w.bytes)
        }
        try waitUntil(timeout: 30, "the peer is closed for announcing too many ports") { !self.sipspan.lines(containing: "more than 65536 ports announced").isEmpty }
        XCTAssertTrue(sipspan.process.isRunning)
        XCTAssertNotNil(sipspan.bridge(0xa1), "the real bridge is still served")
        XCTAssertEqual(sipspan.totals.disconnects, 1, "only the flooding peer was disconnected")
    }
}
