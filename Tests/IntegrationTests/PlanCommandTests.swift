import Foundation
import TestSupport
import XCTest

/// `sipspan plan DIR`: a live dry run against the running serve; nothing is applied.
final class PlanCommandTests: XCTestCase {
    var lab: Lab!
    override func setUpWithError() throws { lab = try Lab() }
    override func tearDown() { lab?.stop() }

    func testALivePlanShowsPerBridgeChangesAndAppliesNothing() throws {
        let pve = try PVETree(root: lab.ovs.dir + "/pve")
        try pve.guest(101, "name: sip-proxy-1\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\n")
        try pve.guest(104, "name: web\nnet0: virtio=BC:24:11:00:01:04,bridge=vmbr0\n")
        try lab.ovs.addBridge("vmbr0", dpid: 0x13, ports: [("tap101i0", 1, nil), ("tap104i0", 2, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        let s = try lab.startSipspanControlling(containing: ["in_port=1,tp_dst=5060"], extraArgs: ["--pve", pve.root])
        let address = try XCTUnwrap(s.statusAddress)
        let before = try lab.ovs.flows("vmbr0")
        let next = lab.ovs.dir + "/next"
        try FileManager.default.createDirectory(atPath: next, withIntermediateDirectories: true)
        try "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 104}]\n".write(toFile: "\(next)/p.yaml", atomically: true, encoding: .utf8)
        let r = try TestSupport.run([try sipspanBinary(), "plan", "--server", address, next], check: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("pve1/vmbr0 (dpid 0000000000000013): +"), r.out)
        XCTAssertTrue(r.out.contains("copies start: 104 (web); copies stop: 101 (sip-proxy-1)"), r.out)
        XCTAssertTrue(r.out.contains("  + table=0, priority=1101") && r.out.contains("in_port=2"), r.out)
        XCTAssertTrue(r.out.contains("  - table=0, priority=1101") && r.out.contains("in_port=1"), r.out)
        XCTAssertTrue(r.out.contains("nothing was applied"))
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try lab.ovs.flows("vmbr0"), before, "nothing applied")

        // An invalid policy: check's format, exit 1.
        try "monitr: [{vm: 900, nic: 1}]\nwatch: []\n".write(toFile: "\(next)/p.yaml", atomically: true, encoding: .utf8)
        let bad = try TestSupport.run([try sipspanBinary(), "plan", "--server", address, next], check: false)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.out.contains("\(next)/p.yaml:1:1: error: unknown key 'monitr'"), bad.out)
        // No serve there: a clear message, exit 1.
        try "monitor: [{vm: 900, nic: 1}]\nwatch: []\n".write(toFile: "\(next)/p.yaml", atomically: true, encoding: .utf8)
        let down = try TestSupport.run([try sipspanBinary(), "plan", "--server", "127.0.0.1:1", next], check: false)
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.err.contains("cannot reach a running serve at 127.0.0.1:1"), down.err)
    }
}
