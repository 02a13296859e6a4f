import Foundation
import TestSupport
import XCTest

/// `sipspan status` and the Prometheus endpoint of a running controller.
final class StatusTests: XCTestCase {
    var lab: Lab!

    override func setUpWithError() throws { lab = try Lab() }
    override func tearDown() { lab?.stop() }

    func testStatusShowsTheBridgeAndMetricsCountTheWork() throws {
        try lab.ovs.addBridge("vmbr0", dpid: 0x91, ports: [("tap101i0", 1, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}, {vm: 555}]\n")
        let s = try lab.startSipspanControlling(containing: ["in_port=1,tp_dst=5060"])
        let address = try XCTUnwrap(s.statusAddress)
        try waitUntil("the bridge is ready") { try TestSupport.run([try sipspanBinary(), "status", "--server", address]).out.contains(" ready ") }
        let out = try TestSupport.run([try sipspanBinary(), "status", "--server", address]).out
        let row = try XCTUnwrap(out.split(separator: "\n").first { $0.hasPrefix("vmbr0") }, out)
        XCTAssertTrue(row.contains("0000000000000091") && row.contains("tap101i0") && row.contains("tap900i1"), String(row))
        XCTAssertTrue(out.contains("sessions: p"), out)
        XCTAssertEqual(s.currentStatus?.bridges.first?.atomicChanges, true, "OVS takes changes as atomic bundles")

        let peer = try RawPeer(port: UInt16(address.split(separator: ":").last ?? "") ?? 0)
        peer.send(Array("GET /metrics HTTP/1.0\r\n\r\n".utf8))
        let metrics = String(decoding: peer.readUntilClosed(timeout: 3).bytes, as: UTF8.self)
        XCTAssertTrue(metrics.hasPrefix("HTTP/1.0 200"), metrics)
        XCTAssertTrue(metrics.contains("sipspan_bridges_connected 1"), metrics)
        // The two bootstrap NORMAL halves, the 12 flows of the plan, and the deletes of the two halves.
        XCTAssertTrue(metrics.contains("sipspan_flow_mods_total 16"), metrics)
        XCTAssertTrue(metrics.contains("sipspan_bridge_connects_total 1"), metrics)
        XCTAssertTrue(metrics.contains("sipspan_bridge_flows{bridge=\"vmbr0\",node=\"\"} 12"), metrics)
        XCTAssertTrue(metrics.contains("sipspan_guest_watched{bridge=\"vmbr0\",guest=\"101\"} 1"), metrics)

        let down = try TestSupport.run([try sipspanBinary(), "status", "--server", "127.0.0.1:1"], check: false)
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("cannot reach 127.0.0.1:1"), down.err)
    }
}
