import Foundation
import TestSupport
import XCTest

/// `sipspan doctor` against a real private OVS set up wrong on purpose, one mistake at a time.
final class DoctorCommandTests: XCTestCase {
    var lab: Lab!
    var pve: PVETree!
    var interfaces: String { lab.ovs.dir + "/interfaces" }

    override func setUpWithError() throws {
        lab = try Lab()
        pve = try PVETree(root: lab.ovs.dir + "/pve")
        try pve.guest(101, "name: sip\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\n")
        try pve.guest(900, "name: mon\nnet1: virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094\n")
        try FileManager.default.createDirectory(atPath: pve.root + "/sipspan", withIntermediateDirectories: true)
        try "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n".write(toFile: pve.root + "/sipspan/p.yaml", atomically: true, encoding: .utf8)
        try Fixtures.interfaces.write(toFile: interfaces, atomically: true, encoding: .utf8)
        // Right, as the guide says: then each test breaks one thing.
        try lab.ovs.addBridge("vmbr0", dpid: nil, ports: [("tap101i0", 1, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)])
        try lab.ovs.vsctl(["set-controller", "vmbr0", "unix:/var/run/openvswitch/sipspan.sock", "--", "set", "bridge", "vmbr0", "fail-mode=standalone", "protocols=OpenFlow10,OpenFlow13"])
    }

    override func tearDown() { lab?.stop() }

    private func doctor(_ extra: [String] = []) throws -> (status: Int32, out: String) {
        let r = try TestSupport.run([try sipspanBinary(), "doctor", "--db", lab.ovs.db, "--interfaces", interfaces, "--pve", pve.root] + extra, check: false)
        return (r.status, r.out + r.err)
    }

    func testARightNodeAndEachMistakeOnARealOVS() throws {
        let ok = try doctor()
        XCTAssertEqual(ok.status, 0, ok.out)
        XCTAssertTrue(ok.out.contains("no problems found (bridges: vmbr0)"), ok.out)

        let mistakes: [(String, [String], String)] = [
            ("secure", ["set", "bridge", "vmbr0", "fail-mode=secure"], "fix: ovs_extra set bridge vmbr0 fail-mode=standalone protocols=OpenFlow10,OpenFlow13"),
            ("protocols", ["set", "bridge", "vmbr0", "protocols=OpenFlow10", "fail-mode=standalone"], "lacks OpenFlow13"),
            ("trunks", ["set", "bridge", "vmbr0", "protocols=OpenFlow10,OpenFlow13", "--", "set", "port", "bond0", "trunks=1-4093"], "fix: ovs-vsctl set port bond0 trunks=0-4093"),
            ("monitor tag", ["clear", "port", "bond0", "trunks", "--", "clear", "port", "tap900i1", "tag"], "fix: qm set 900 --net1 virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094,firewall=0"),
            ("non-monitor on the monitor VLAN", ["set", "port", "tap900i1", "tag=4094", "--", "set", "port", "tap101i0", "tag=4094"], "port tap101i0: on the monitor VLAN 4094 but no monitor"),
            ("no controller", ["clear", "port", "tap101i0", "tag", "--", "del-controller", "vmbr0"], "fix: ovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock"),
        ]
        for (what, change, expected) in mistakes {
            try lab.ovs.vsctl(change)
            let r = try doctor()
            XCTAssertEqual(r.status, 1, "\(what): \(r.out)")
            XCTAssertTrue(r.out.contains(expected), "\(what): expected '\(expected)' in\n\(r.out)")
            XCTAssertTrue(r.out.contains("1 problem(s)"), "\(what): one finding each\n\(r.out)")
        }
        // JSON for tools.
        let json = try doctor(["--format", "json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        XCTAssertEqual((obj?["findings"] as? [[String: Any]])?.count, 1, json.out)
    }

    func testAControllerNotPersistedInOvsExtraAndAWatchedNICOffOVS() throws {
        try Fixtures.interfaces.replacingOccurrences(of: "\tovs_extra set-controller vmbr0 unix:/var/run/openvswitch/sipspan.sock\n", with: "")
            .write(toFile: interfaces, atomically: true, encoding: .utf8)
        try pve.guest(101, "name: sip\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\nnet1: virtio=BC:24:11:00:01:11,bridge=vmbr1\n")
        let r = try doctor()
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains("is not set by an ovs_extra line: the next ifreload -a"), r.out)
        XCTAssertTrue(r.out.contains("VM 101 (sip) net1: watched, but on bridge 'vmbr1'"), r.out)
        XCTAssertTrue(r.out.contains("fix: qm set 101 --net1 virtio=BC:24:11:00:01:11,bridge=vmbr0"), r.out)
    }

    func testBadInputIsAClearMessageNeverACrash() throws {
        // No OVS, no /etc/pve, no interfaces file.
        let r = try TestSupport.run([try sipspanBinary(), "doctor", "--db", "unix:\(lab.ovs.dir)/nope.sock", "--interfaces", "\(lab.ovs.dir)/missing", "--pve", "none"], check: false)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.out.contains("Open vSwitch: cannot read its configuration"), r.out)
        XCTAssertTrue(r.out.contains("\(lab.ovs.dir)/missing: cannot read it (No such file or directory)"), r.out)
        XCTAssertTrue(r.out.contains("note: no /etc/pve: guest checks skipped"), r.out)
        // Malformed interfaces (binary) and an unreadable one (a directory).
        try Data([0x61, 0, 0x62, 0xff]).write(to: URL(fileURLWithPath: interfaces))
        XCTAssertTrue(try doctor().out.contains("binary content"))
        try FileManager.default.removeItem(atPath: interfaces)
        try FileManager.default.createDirectory(atPath: interfaces, withIntermediateDirectories: false)
        let dir = try doctor()
        XCTAssertEqual(dir.status, 1)
        XCTAssertTrue(dir.out.contains("Is a directory"), dir.out)
    }
}
