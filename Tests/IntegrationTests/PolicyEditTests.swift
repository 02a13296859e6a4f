import Foundation
import TestSupport
import XCTest

/// Issue 5: live policy edits against a real OVS.
final class PolicyEditTests: XCTestCase {
    var lab: Lab!
    var sipspan: SipspanProcess!

    override func setUpWithError() throws {
        lab = try Lab()
        try lab.ovs.addBridge("vmbr0", dpid: 0x10, ports: [
            ("tap101i0", 1, nil), ("tap103i0", 2, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil),
        ], pcapPorts: ["tap900i1"])
        try lab.writePolicy("proxies.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        sipspan = try lab.startSipspan()
        try lab.ovs.setController("vmbr0", port: sipspan.port)
        try lab.waitForFlows("vmbr0", containing: ["in_port=1,tp_dst=5060"])
    }

    override func tearDown() { lab?.stop() }

    private var sipFrom101: String {
        Frames.udp4(src: Hosts.vm101, dst: Hosts.far, from: Hosts.ip101, to: Hosts.ipFar, sport: 40000, dport: 5060, inPort: 1)
    }

    private func flowsIgnoringCounters() throws -> [String] { try lab.ovs.flows("vmbr0") }

    func testValidEditAppliesOnlyTheDifferenceAndCountersSurvive() throws {
        try lab.ovs.receive("tap101i0", sipFrom101)
        let key = try XCTUnwrap(try lab.ovs.flowCounters("vmbr0").keys.first { $0.contains("in_port=1,tp_dst=5060") && !$0.contains("udp6") })
        try waitUntil("the copy flow counted the frame") { try lab.ovs.flowCounters("vmbr0")[key] == 1 }
        try lab.writePolicy("proxies.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}, {vm: 103}]\n")
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
        XCTAssertEqual(try lab.ovs.flowCounters("vmbr0")[key], 1, "the unchanged flow of VM 101 was not replaced")
        try waitUntil("one reload line") { sipspan.lines(containing: "policy applied").count == 1 }
        let line = sipspan.lines(containing: "policy applied")[0]
        XCTAssertTrue(line.contains("added=7") && line.contains("removed=0") && line.contains("bridges=1"), line)
        XCTAssertTrue(line.contains("proxies.yaml"), line)
    }

    func testInvalidEditChangesNothingThenTheNextValidEditApplies() throws {
        let before = try flowsIgnoringCounters()
        try lab.writePolicy("proxies.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch:\n  - vm: 101\n  - vm: 12\n")
        let file = "\(lab.policyDir)/proxies.yaml"
        try waitUntil("the error logged as FILE:LINE:COLUMN") { !sipspan.lines(containing: "\(file):4:9: error: a VM id must be in 100..999999999, found 12").isEmpty }
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try flowsIgnoringCounters(), before, "the flow table is untouched")
        XCTAssertTrue(sipspan.process.isRunning)
        try lab.writePolicy("proxies.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch:\n  - vm: 101\n  - vm: 103\n")
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
    }

    func testDeletedFileRemovesItsCopies() throws {
        try FileManager.default.removeItem(atPath: "\(lab.policyDir)/proxies.yaml")
        try lab.waitForFlows("vmbr0", count: 1, timeout: 3)
    }

    func testEditByRenameAndInPlaceWriteAreBothSeen() throws {
        // mv into place (what editors and config management do).
        let tmp = "\(lab.policyDir)/.proxies.yaml.tmp"
        try "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 103}]\n".write(toFile: tmp, atomically: false, encoding: .utf8)
        XCTAssertEqual(rename(tmp, "\(lab.policyDir)/proxies.yaml"), 0)
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
        XCTAssertFalse(try lab.ovs.flows("vmbr0").contains { $0.contains("in_port=1,tp_dst=5060") })
        // Written in place: truncate and write the same inode.
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: "\(lab.policyDir)/proxies.yaml"))
        try h.truncate(atOffset: 0)
        h.write(Data("monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n".utf8))
        try h.close()
        try lab.waitForFlows("vmbr0", containing: ["in_port=1,tp_dst=5060"], timeout: 3)
        XCTAssertFalse(try lab.ovs.flows("vmbr0").contains { $0.contains("in_port=2,tp_dst=5060") })
    }

    /// An edit that inotify does not report (as on /etc/pve for edits made on another node) is found
    /// by the periodic content check: written through a hard link in another directory, whose events
    /// reach that directory's watchers only.
    func testEditWithoutAnInotifyEventIsFoundByThePeriodicCheck() throws {
        let elsewhere = lab.ovs.dir + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        XCTAssertEqual(link("\(lab.policyDir)/proxies.yaml", "\(elsewhere)/alias.yaml"), 0)
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: "\(elsewhere)/alias.yaml"))
        try h.truncate(atOffset: 0)
        h.write(Data("monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 103}]\n".utf8))
        try h.close()
        let start = Date()
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1.6, "within the 1 s check interval plus the apply time")
        try waitUntil("the reload says it came from the periodic check") { sipspan.lines(containing: "policy reloaded").contains { $0.contains("trigger=poll") } }
    }

    /// Another file of the policy directory written all the time (a log, a swap file) neither reads
    /// the policies nor postpones the reading of an edit (each event used to restart the debounce,
    /// so only the 1 s check found the edit).
    func testAFileWrittenAllTheTimeBesideThePoliciesDoesNotDelayAnEdit() throws {
        let noisy = try XCTUnwrap(FileHandle(forWritingAtPath: { let p = "\(lab.policyDir)/sipspan.log"; FileManager.default.createFile(atPath: p, contents: nil); return p }()))
        let stop = DispatchSemaphore(value: 0), stopped = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            while stop.wait(timeout: .now() + .milliseconds(2)) == .timedOut { noisy.write(Data("a log line\n".utf8)) }
            stopped.signal()
        }
        defer { stop.signal(); stopped.wait(); try? noisy.close() }
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertTrue(sipspan.lines(containing: "policy reloaded").isEmpty, "the log's writes read nothing")
        try lab.writePolicy("proxies.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 103}]\n")
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
        try waitUntil("the reload line") { !sipspan.lines(containing: "policy reloaded").isEmpty }
        let line = sipspan.lines(containing: "policy reloaded")[0]
        XCTAssertTrue(line.contains("trigger=inotify"), "found by its inotify event, not the periodic check: \(line)")
    }

    func testTwentyRapidWritesLeadToOneOrTwoReloadsEndingInTheLastContent() throws {
        let before = sipspan.totals.reloadsApplied
        for i in 0..<20 {
            let vm = i == 19 ? 103 : 101
            try lab.writePolicy("proxies.yaml", "# write \(i)\nmonitor: [{vm: 900, nic: 1}]\nwatch: [{vm: \(vm)}]\n")
        }
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 3)
        Thread.sleep(forTimeInterval: 1.5)
        let reloads = sipspan.totals.reloadsApplied - before
        XCTAssertTrue((1...2).contains(reloads), "\(reloads) reloads for 20 writes")
        XCTAssertFalse(try lab.ovs.flows("vmbr0").contains { $0.contains("in_port=1,tp_dst=5060") })
    }

    func testSIGHUPReloadsAndABridgeThatWasAwayGetsTheEdit() throws {
        try lab.ovs.vsctl(["del-controller", "vmbr0"])
        try waitUntil("the bridge is gone") { self.sipspan.totals.disconnects == 1 && self.sipspan.currentStatus?.bridges.isEmpty == true }
        try lab.writePolicy("proxies.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 103}]\n")
        sipspan.signal(SIGHUP)
        try waitUntil("the edit is in force") { self.sipspan.totals.reloadsApplied == 1 }
        try lab.ovs.setController("vmbr0", port: sipspan.port)
        try lab.waitForFlows("vmbr0", containing: ["in_port=2,tp_dst=5060"], timeout: 5)
        XCTAssertFalse(try lab.ovs.flows("vmbr0").contains { $0.contains("in_port=1,tp_dst=5060") })
    }
}
