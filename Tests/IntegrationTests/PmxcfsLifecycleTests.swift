import Foundation
import TestSupport
import XCTest

/// Issue 19 item 1 on a real ovs-vswitchd, deployed as the guide says: policies in `/etc/pve/sipspan`,
/// `--pve /etc/pve`, guests chosen by tag. `pve-cluster` restarting is replayed as pmxcfs does it: the
/// mounted tree goes away and `/etc/pve` is the bare, empty mount point for a few seconds.
final class PmxcfsLifecycleTests: XCTestCase {
    var lab: Lab!
    var pve: PVETree!
    var sipspan: SipspanProcess!
    var policyDir: String { pve.root + "/sipspan" }

    override func setUpWithError() throws {
        lab = try Lab()
        pve = try PVETree(root: lab.ovs.dir + "/pve")
        try pve.guest(101, InventoryTests.config(name: "sip-proxy-1", mac: Hosts.vm101, tags: "sip-proxy"))
        try pve.guest(104, InventoryTests.config(name: "other", mac: Hosts.vm104))
        try pve.guest(900, "name: monitor\nnet1: virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094,firewall=0\n")
        try FileManager.default.createDirectory(atPath: policyDir, withIntermediateDirectories: true)
        try pve.write("sipspan/carriers.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{tag: sip-proxy}]\n")
        try lab.ovs.addBridge("vmbr0", dpid: 0x19, ports: [("tap101i0", 1, nil), ("tap104i0", 5, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)],
                              pcapPorts: ["tap900i1"])
        sipspan = try SipspanProcess(policy: [policyDir], extraArgs: ["--pve", pve.root], logPath: lab.ovs.dir + "/sipspan-pmxcfs.log")
        lab.sipspan = sipspan
        try lab.ovs.setController("vmbr0", port: sipspan.port)
        try lab.waitForFlows("vmbr0", containing: ["dl_dst=\(Hosts.vm101)"])
    }

    override func tearDown() { lab?.stop() }

    /// The tree goes away (unmounted) and `/etc/pve` is an empty directory; the returned closure
    /// brings it back as a restarted pmxcfs (new starttime in `.version`).
    private func unmount() throws -> () throws -> Void {
        let mounted = pve.root + ".mounted"
        guard rename(pve.root, mounted) == 0 else { throw CocoaError(.fileWriteUnknown) }
        try FileManager.default.createDirectory(atPath: pve.root, withIntermediateDirectories: false)
        return {
            try FileManager.default.removeItem(atPath: self.pve.root)
            guard rename(mounted, self.pve.root) == 0 else { throw CocoaError(.fileWriteUnknown) }
            try self.pve.restartPmxcfs()
        }
    }

    private func sipFromUplinkTo101() throws {
        try lab.ovs.receive("bond0", Frames.udp4(src: Hosts.far, dst: Hosts.vm101, from: Hosts.ipFar, to: Hosts.ip101, sport: 5060, dport: 5060, inPort: 4))
    }

    func testARestartOfPveClusterChangesNothing() throws {
        let flows = try lab.ovs.flows("vmbr0")
        let changesBefore = sipspan.totals.changesApplied
        let restore = try unmount()
        try waitUntil(timeout: 3, "status says pmxcfs is unavailable") { self.sipspan.currentStatus?.pmxcfs.state == .unavailable }
        let status = try sipspan.status()
        XCTAssertTrue(status.pmxcfs.reason?.contains(".members") ?? false, "\(status.pmxcfs)")
        // Several checks while it is gone: the flows stay, nothing goes to the controller, copies go on.
        Thread.sleep(forTimeInterval: 2.2)
        XCTAssertEqual(try lab.ovs.flows("vmbr0"), flows, "every flow as it was while pmxcfs is away")
        XCTAssertFalse(try lab.ovs.flows("vmbr0").contains { $0.contains("CONTROLLER") }, "nothing is learned from frames meanwhile")
        try sipFromUplinkTo101()
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 1), ["udp \(Hosts.ipFar):5060>\(Hosts.ip101):5060"])
        XCTAssertGreaterThanOrEqual(try sipspan.status().pmxcfs.inventoryAgeSeconds ?? 0, 2, "the inventory in force ages")
        XCTAssertEqual(sipspan.lines(containing: "pmxcfs unavailable; the last inventory and policy stay in force").count, 1, "said once")
        XCTAssertEqual(sipspan.lines(containing: "policy files unreadable while pmxcfs is not mounted").count, 1, sipspan.log)
        XCTAssertTrue(sipspan.lines(containing: "policy rejected").isEmpty, "not called an invalid policy")
        let text = try TestSupport.run([try sipspanBinary(), "status", "--server", "unix:\(sipspan.statusSocket)"]).out
        XCTAssertTrue(text.contains("pmxcfs: NOT MOUNTED at \(pve.root)") && text.contains("stays in force"), text)

        try restore()
        try waitUntil(timeout: 3, "status says pmxcfs is back") { self.sipspan.currentStatus?.pmxcfs.state == .mounted }
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try lab.ovs.flows("vmbr0"), flows, "nothing changed that did not change")
        XCTAssertEqual(sipspan.totals.changesApplied, changesBefore, "no flow_mod on the way back")
        XCTAssertEqual(sipspan.lines(containing: "pmxcfs available again").count, 1)
        XCTAssertLessThan(try sipspan.status().pmxcfs.inventoryAgeSeconds ?? 99, 2)
    }

    /// Issue 19's bad input on a mounted pmxcfs, all at once: a half-written guest config, `.vmlist`
    /// naming a node whose directory is missing, a symlink loop where a guest config should be, and the
    /// policy directory replaced by a file. Each is logged; the last good view stays; copies go on;
    /// when it is all repaired nothing changes.
    func testBadInputUnderEtcPveKeepsTheLastGoodViewAndTheCopies() throws {
        let flows = try lab.ovs.flows("vmbr0")
        let changes = sipspan.totals.changesApplied
        try pve.guest(101, "name: sip-proxy-1\ntags: sip-proxy\nnet0: virtio=BC:24:11:00:0")        // cut mid-line
        try FileManager.default.createDirectory(atPath: pve.root + "/nodes/ghost/qemu-server", withIntermediateDirectories: true)
        try pve.guest(150, node: "ghost", "name: ghost\nnet0: virtio=BC:24:11:00:01:50,bridge=vmbr0\n")
        try FileManager.default.removeItem(atPath: pve.root + "/nodes/ghost")                            // listed, directory gone
        let qemu = pve.root + "/nodes/pve1/qemu-server"
        try pve.guest(160, "name: looped\n")
        try FileManager.default.removeItem(atPath: qemu + "/160.conf")
        XCTAssertEqual(symlink("loop-b", qemu + "/loop-a"), 0)
        XCTAssertEqual(symlink("loop-a", qemu + "/loop-b"), 0)
        XCTAssertEqual(symlink("loop-a", qemu + "/160.conf"), 0)                                          // ELOOP
        try FileManager.default.removeItem(atPath: policyDir)
        try "monitor: [".write(toFile: policyDir, atomically: false, encoding: .utf8)                    // the directory is now a file
        try waitUntil(timeout: 5, "the broken policy path is reported") { !self.sipspan.lines(containing: "policy rejected").isEmpty }
        Thread.sleep(forTimeInterval: 2.2)                                                                // two more inventory checks
        XCTAssertTrue(sipspan.process.isRunning)
        XCTAssertEqual(try lab.ovs.flows("vmbr0"), flows, "the last good view stays in force")
        try sipFromUplinkTo101()
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 1), ["udp \(Hosts.ipFar):5060>\(Hosts.ip101):5060"], "copies go on")
        let log = sipspan.log
        for mentioned in ["101.conf", "160.conf", "ghost", "sipspan"] {
            XCTAssertTrue(log.contains(mentioned), "a log line names \(mentioned):\n\(log.suffix(3000))")
        }
        XCTAssertEqual(try sipspan.status().pmxcfs.state, .mounted, "bad files are not an unmounted pmxcfs")

        // Repaired: the same policy and guests as before: nothing changes.
        try FileManager.default.removeItem(atPath: policyDir)
        try FileManager.default.createDirectory(atPath: policyDir, withIntermediateDirectories: true)
        try pve.write("sipspan/carriers.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{tag: sip-proxy}]\n")
        try pve.guest(101, InventoryTests.config(name: "sip-proxy-1", mac: Hosts.vm101, tags: "sip-proxy"))
        for f in ["160.conf", "loop-a", "loop-b"] { unlink(qemu + "/" + f) }
        Thread.sleep(forTimeInterval: 2.2)
        XCTAssertEqual(try lab.ovs.flows("vmbr0"), flows)
        XCTAssertEqual(sipspan.totals.changesApplied, changes, "no flow_mod for what did not change")
    }

    func testAPolicyFileReallyDeletedOnAMountedPmxcfsStillRemovesItsCopies() throws {
        unlink(policyDir + "/carriers.yaml")
        try waitUntil(timeout: 3, "the copies are removed") { try !self.lab.ovs.flows("vmbr0").contains { $0.contains("dl_dst=\(Hosts.vm101)") } }
        XCTAssertEqual(try sipspan.status().pmxcfs.state, .mounted)
    }

    func testAnEditMadeWhilePmxcfsWasAwayIsAppliedWhenItIsBack() throws {
        let restore = try unmount()
        try waitUntil(timeout: 3, "status says pmxcfs is unavailable") { self.sipspan.currentStatus?.pmxcfs.state == .unavailable }
        // The cluster went on meanwhile: VM 104 was tagged (in the database pmxcfs will serve again).
        let mountPoint = pve.root
        pve.root = mountPoint + ".mounted"
        try pve.guest(104, InventoryTests.config(name: "other", mac: Hosts.vm104, tags: "sip-proxy"))
        pve.root = mountPoint
        Thread.sleep(forTimeInterval: 1.5)
        XCTAssertFalse(try lab.ovs.flows("vmbr0").contains { $0.contains("dl_dst=\(Hosts.vm104)") }, "unknown while unmounted")
        try restore()
        try lab.waitForFlows("vmbr0", containing: ["dl_dst=\(Hosts.vm104)", "dl_dst=\(Hosts.vm101)"], timeout: 3)
    }
}
