@testable import ControllerCore
import FlowPlanning
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol
import XCTest

/// Drives one `ControllerCore` like the runtime would, with a hand-moved clock and switches played
/// from here: no sockets, no sleeps. Every action is kept so a test can look at what was decided.
struct CoreHarness {
    var core: ControllerCore
    var now: UInt64 = 1_000_000_000
    /// Every action, in order.
    var actions: [ControllerAction] = []
    /// Messages sent per connection, in order.
    var sent: [ConnectionID: [OutgoingMessage]] = [:]
    /// Connections the core asked to close, with the reason; the harness reports them closed.
    var closedReasons: [ConnectionID: CloseReason] = [:]

    static let ports: [PortDescription] = [
        PortDescription(portNumber: PortNumber.local, name: "vmbr0"),
        PortDescription(portNumber: 1, name: "tap101i0"),
        PortDescription(portNumber: 2, name: "tap102i0"),
        PortDescription(portNumber: 3, name: "tap900i1"),
        PortDescription(portNumber: 4, name: "eno1"),
    ]

    static func policy(watching vms: [UInt32], file: String = "p.yaml") -> PolicySet {
        PolicySet([MirrorSession(name: "p", file: file, monitors: [.vm(900, nic: 1)], watch: .ports(vms.map { .vm($0, nic: nil) }))])
    }

    init(policy: PolicySet = CoreHarness.policy(watching: [101]), inventory: Inventory = .empty, options: ControllerOptions = ControllerOptions()) {
        core = ControllerCore(policy: policy, inventory: inventory, options: options, now: now)
    }

    mutating func advance(_ seconds: Double) { now += UInt64(seconds * 1e9) }

    /// Runs actions as the runtime does: a close is reported back to the core at once.
    @discardableResult
    mutating func run(_ list: [ControllerAction]) -> [ControllerAction] {
        var all: [ControllerAction] = []
        for a in list {
            all.append(a)
            actions.append(a)
            switch a {
            case let .send(id, m): sent[id, default: []] += m
            case let .close(id, reason):
                closedReasons[id] = reason
                all += run(core.closed(id, reason: reason, now: now))
            case let .scheduleReconcile(id):
                all += run(core.handle(id, .reconcileDue, now: now))
            default: break
            }
        }
        return all
    }

    mutating func accept(_ peer: PeerAddress = .unix(path: "/var/run/openvswitch/sipspan.sock"), certificate: String? = nil) -> ConnectionID? {
        let (id, a) = core.accept(peer: peer, now: now)
        run(a)
        guard let id else { return nil }
        core.certificateVerified(id, commonName: certificate)
        run(core.handle(id, .connected, now: now))
        return id
    }

    @discardableResult
    mutating func receive(_ id: ConnectionID, _ m: Message, xid: UInt32 = 0) -> [ControllerAction] {
        run(core.handle(id, .frame(m.encoded(xid: xid)), now: now))
    }

    func lastXID(_ id: ConnectionID, where predicate: (Message) -> Bool) -> UInt32? { sent[id]?.last { predicate($0.message) }?.xid }
    func barrierXID(_ id: ConnectionID) -> UInt32? { lastXID(id) { $0 == .barrierRequest } }

    /// HELLO, FEATURES and the sync replies, as a switch with datapath `dpid` and no flows answers them.
    @discardableResult
    mutating func handshake(_ id: ConnectionID, dpid: UInt64, ports: [PortDescription] = CoreHarness.ports, confirm: Bool = true) -> [ControllerAction] {
        var all = receive(id, .hello(versions: [4]))
        all += receive(id, .featuresReply(SwitchFeatures(datapathID: dpid)), xid: 2)
        guard closedReasons[id] == nil else { return all }
        let portsXID = lastXID(id) { if case .multipartRequest(.portDesc, _) = $0 { return true }; return false } ?? 0
        let flowsXID = lastXID(id) { if case .multipartRequest(.flow, _) = $0 { return true }; return false } ?? 0
        all += receive(id, .multipartReply(.portDesc(ports), flags: 0), xid: portsXID)
        all += receive(id, .multipartReply(.flow([]), flags: 0), xid: flowsXID)
        if confirm, let b = barrierXID(id) { all += receive(id, .barrierReply, xid: b) }
        return all
    }

    /// A connected, confirmed bridge.
    mutating func bridge(dpid: UInt64, peer: PeerAddress = .unix(path: "/var/run/openvswitch/sipspan.sock"), certificate: String? = nil) -> ConnectionID? {
        guard let id = accept(peer, certificate: certificate) else { return nil }
        handshake(id, dpid: dpid)
        return id
    }
}

func logLines(_ actions: [ControllerAction]) -> [LogLine] {
    actions.compactMap { if case let .log(l) = $0 { return l }; return nil }
}

func lines(_ actions: [ControllerAction], _ message: String) -> [LogLine] {
    logLines(actions).filter { $0.message == message }
}

func counts(_ actions: [ControllerAction], _ counter: ControllerCounter) -> Int {
    actions.reduce(0) { n, a in if case let .count(c, k) = a, c == counter { return n + k }; return n }
}

/// Flow_mods sent to a connection, alone or inside a bundle.
func flowModCount(_ actions: [ControllerAction], to id: ConnectionID) -> Int {
    actions.reduce(0) { n, a in
        guard case let .send(to, ms) = a, to == id else { return n }
        return n + ms.filter { switch $0.message { case .flowMod, .bundleAdd: return true; default: return false } }.count
    }
}

final class DatapathClaimTests: XCTestCase {
    func testASecondConnectionClaimingALiveDatapathIsRefused() throws {
        var h = CoreHarness()
        let first = try XCTUnwrap(h.bridge(dpid: 0x71))
        let second = try XCTUnwrap(h.accept(.inet(host: "192.0.2.66", port: 40000)))
        let a = h.handshake(second, dpid: 0x71)
        XCTAssertEqual(h.closedReasons[second]?.kind, .datapathInUse)
        XCTAssertEqual(counts(a, .claimsRefused), 1)
        XCTAssertEqual(flowModCount(a, to: second), 0, "no flow reached the impostor after its claim")
        XCTAssertEqual(flowModCount(h.actions, to: second), 2, "only the bootstrap NORMAL halves, sent on connect")
        XCTAssertEqual(h.core.connection(serving: 0x71), first)
        XCTAssertEqual(lines(a, "datapath already served by a live connection; newcomer refused").first?.fields["refused_peer"], "192.0.2.66:40000")
        XCTAssertTrue(lines(a, "bridge disconnected").isEmpty, "the served bridge is untouched")
        XCTAssertEqual(h.core.status(now: h.now).bridges.map(\.state), [.ready])
    }

    func testAConnectionThatLeftAnEchoUnansweredGivesWay() throws {
        var h = CoreHarness()
        let first = try XCTUnwrap(h.bridge(dpid: 0x71))
        // Silence: past the echo interval the core sends an echo request, which goes unanswered.
        h.advance(5.5)
        h.run(h.core.tick(now: h.now))
        XCTAssertNotNil(h.sent[first]?.last { $0.message == .echoRequest([]) })
        h.advance(1.0)
        let early = try XCTUnwrap(h.accept(.inet(host: "192.0.2.11", port: 1)))
        h.handshake(early, dpid: 0x71)
        XCTAssertEqual(h.closedReasons[early]?.kind, .datapathInUse, "1 s unanswered is not yet silence")
        h.advance(1.5)
        let late = try XCTUnwrap(h.accept(.inet(host: "192.0.2.11", port: 2)))
        let a = h.handshake(late, dpid: 0x71)
        XCTAssertEqual(h.closedReasons[first]?.kind, .replaced)
        XCTAssertNil(h.closedReasons[late])
        XCTAssertEqual(h.core.connection(serving: 0x71), late)
        XCTAssertEqual(lines(a, "connection for datapath went silent; the new one takes over").count, 1)
        // The replaced connection no longer served its datapath: not a "bridge disconnected".
        XCTAssertTrue(lines(a, "bridge disconnected").isEmpty)
        XCTAssertEqual(lines(a, "connection closed").first?.fields["reason"], "silent; replaced by a new connection from 192.0.2.11:2")
    }

    func testADatapathBoundToACertificateIsServedOnlyToThatCertificate() throws {
        var options = ControllerOptions()
        options.datapathCertificates = [0x71: "pve1-vmbr0"]
        var h = CoreHarness(options: options)
        let none = try XCTUnwrap(h.accept(.inet(host: "192.0.2.11", port: 1)))
        let a = h.handshake(none, dpid: 0x71)
        XCTAssertEqual(h.closedReasons[none]?.kind, .datapathInUse)
        XCTAssertEqual(h.closedReasons[none]?.detail, "datapath 0000000000000071 is bound to certificate 'pve1-vmbr0'; the peer presented no certificate")
        XCTAssertEqual(lines(a, "datapath bound to another certificate; connection refused").first?.fields["presented"], "no certificate")
        let other = try XCTUnwrap(h.accept(.inet(host: "192.0.2.11", port: 2), certificate: "pve2-vmbr0"))
        h.handshake(other, dpid: 0x71)
        XCTAssertEqual(h.closedReasons[other]?.detail, "datapath 0000000000000071 is bound to certificate 'pve1-vmbr0'; the peer presented certificate 'pve2-vmbr0'")
        let right = try XCTUnwrap(h.accept(.inet(host: "192.0.2.11", port: 3), certificate: "pve1-vmbr0"))
        h.handshake(right, dpid: 0x71)
        XCTAssertNil(h.closedReasons[right])
        XCTAssertEqual(h.core.connection(serving: 0x71), right)
        // A datapath without a binding is served to any certificate (or none).
        let unbound = try XCTUnwrap(h.accept(.inet(host: "192.0.2.12", port: 1), certificate: "pve2-vmbr0"))
        h.handshake(unbound, dpid: 0x72)
        XCTAssertEqual(h.core.connection(serving: 0x72), unbound)
        XCTAssertEqual(counts(h.actions, .claimsRefused), 2)
    }

    func testConnectionsBeyondTheLimitAreRefusedAtAccept() throws {
        var options = ControllerOptions()
        options.maximumConnections = 2
        var h = CoreHarness(options: options)
        XCTAssertNotNil(h.accept())
        XCTAssertNotNil(h.accept())
        XCTAssertNil(h.accept(.inet(host: "192.0.2.9", port: 9)))
        XCTAssertEqual(lines(h.actions, "connection refused: too many connections").first?.fields, ["peer": "192.0.2.9:9", "limit": "2"])
        XCTAssertEqual(h.core.connectionCount, 2)
    }

    func testAPeerThatNeverCompletesTheHandshakeIsABadPeerNotADisconnectedBridge() throws {
        var h = CoreHarness()
        let id = try XCTUnwrap(h.accept(.inet(host: "203.0.113.5", port: 7)))
        h.advance(11)
        let a = h.run(h.core.tick(now: h.now))
        XCTAssertEqual(h.closedReasons[id]?.kind, .handshakeTimeout)
        XCTAssertEqual(counts(a, .badPeers), 1)
        XCTAssertEqual(lines(a, "connection closed").count, 1)
        XCTAssertEqual(h.core.connectionCount, 0)
    }
}

final class ReloadAccountingTests: XCTestCase {
    func testAPolicyEditIsLoggedOnceWhenEveryTouchedBridgeHasConfirmed() throws {
        var h = CoreHarness()
        let b1 = try XCTUnwrap(h.bridge(dpid: 1))
        let b2 = try XCTUnwrap(h.bridge(dpid: 2))
        h.advance(0.010)
        let edit = h.run(h.core.apply(policy: CoreHarness.policy(watching: [101, 102]), changedFiles: ["p.yaml"], trigger: "inotify",
                                      detectedAt: h.now - 5_000_000, now: h.now))
        XCTAssertEqual(lines(edit, "policy reloaded").first?.fields, ["files": "p.yaml", "sessions": "1", "trigger": "inotify"])
        XCTAssertEqual(counts(edit, .reloadsApplied), 1)
        XCTAssertGreaterThan(flowModCount(edit, to: b1), 0)
        XCTAssertEqual(flowModCount(edit, to: b1), flowModCount(edit, to: b2), "both bridges get the same change")
        XCTAssertTrue(lines(edit, "policy applied").isEmpty, "not before the barriers are answered")
        h.advance(0.002)
        XCTAssertTrue(lines(h.receive(b1, .barrierReply, xid: try XCTUnwrap(h.barrierXID(b1))), "policy applied").isEmpty)
        h.advance(0.003)
        let done = lines(h.receive(b2, .barrierReply, xid: try XCTUnwrap(h.barrierXID(b2))), "policy applied")
        XCTAssertEqual(done.count, 1)
        let f = try XCTUnwrap(done.first?.fields)
        XCTAssertEqual(f["change"], "policy edit (p.yaml)")
        XCTAssertEqual(f["bridges"], "2")
        XCTAssertEqual(f["removed"], "0")
        XCTAssertEqual(Int(f["added"] ?? ""), flowModCount(edit, to: b1) + flowModCount(edit, to: b2))
        XCTAssertEqual(f["unconfirmed"], "0")
        XCTAssertEqual(f["ms"], "10.0", "from the moment the edit was detected to the last barrier reply")
    }

    func testABridgeLostMidReloadIsCountedUnconfirmedAndTheReloadStillCompletes() throws {
        var h = CoreHarness()
        let b1 = try XCTUnwrap(h.bridge(dpid: 1))
        let b2 = try XCTUnwrap(h.bridge(dpid: 2))
        h.run(h.core.apply(policy: CoreHarness.policy(watching: [102]), changedFiles: ["p.yaml"], trigger: "poll", detectedAt: h.now, now: h.now))
        h.receive(b1, .barrierReply, xid: try XCTUnwrap(h.barrierXID(b1)))
        let gone = h.run(h.core.closed(b2, reason: CloseReason(.peerClosed, "peer closed the connection"), now: h.now))
        let done = lines(gone, "policy applied")
        XCTAssertEqual(done.first?.fields["unconfirmed"], "1")
        XCTAssertEqual(done.first?.fields["bridges"], "2")
        XCTAssertEqual(done.first?.fields["connected"], "1")
        XCTAssertEqual(lines(gone, "bridge disconnected").first?.fields["reason"], "peer closed the connection")
        XCTAssertEqual(counts(gone, .disconnects), 1)
        XCTAssertTrue(gone.contains(.bridgesConnected(1)))
    }

    func testAnEditThatChangesNoFlowIsAppliedAtOnceAndAnEqualPolicyIsNotAReload() throws {
        var h = CoreHarness()
        _ = try XCTUnwrap(h.bridge(dpid: 1))
        // Same sessions, another file name: a new policy, but no bridge's flows change.
        let renamed = PolicySet([MirrorSession(name: "p", file: "q.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]))])
        let a = h.run(h.core.apply(policy: renamed, changedFiles: ["q.yaml"], trigger: "poll", detectedAt: h.now, now: h.now))
        XCTAssertEqual(lines(a, "policy applied").first?.fields["bridges"], "0")
        XCTAssertEqual(flowModCount(a, to: ConnectionID(1)), 0)
        XCTAssertEqual(h.run(h.core.apply(policy: renamed, changedFiles: ["q.yaml"], trigger: "poll", detectedAt: h.now, now: h.now)), [],
                       "the policy in force again: nothing at all")
    }

    func testARejectedEditChangesNothingAndLogsEveryDiagnostic() throws {
        var h = CoreHarness()
        let b = try XCTUnwrap(h.bridge(dpid: 1))
        let before = h.core.session(b)?.installed
        let errors = PolicyErrors([Diagnostic(.error, SourceLocation(file: "p.yaml", line: 3, column: 5), "unknown key 'wach'",
                                              notes: [Diagnostic(.note, SourceLocation(file: "p.yaml", line: 3, column: 5), "did you mean 'watch'?")])])
        let a = h.run(h.core.reject(policy: errors, changedFiles: ["p.yaml"], trigger: "inotify"))
        XCTAssertEqual(logLines(a).map(\.message), ["policy rejected; the last valid policy stays in force",
                                                    "p.yaml:3:5: error: unknown key 'wach'", "p.yaml:3:5: note: did you mean 'watch'?"])
        XCTAssertEqual(counts(a, .reloadsRejected), 1)
        XCTAssertEqual(h.core.session(b)?.installed, before)
        XCTAssertEqual(h.core.writtenPolicy, CoreHarness.policy(watching: [101]))
    }
}

final class InventoryAndWarningTests: XCTestCase {
    static let members = #"{"nodename": "pve1", "version": 5, "cluster": {"name": "c", "version": 2, "nodes": 2, "quorate": 1}, "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.11"}, "pve2": {"id": 2, "online": 1, "ip": "192.0.2.12"}}}"#
    static let vmlist = #"{"version": 9, "ids": {"101": {"node": "pve1", "type": "qemu", "version": 7}, "102": {"node": "pve1", "type": "qemu", "version": 2}, "900": {"node": "pve1", "type": "qemu", "version": 3}}}"#

    static func files(tag102: Bool = false, broken101: Bool = false) -> [String: [UInt8]] {
        let vm101 = broken101 ? "name: sip-proxy-1\nnet0: virtio=BC:24:11:00:01,bridge=vmbr0\n" : "name: sip-proxy-1\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\n"
        let vm102 = "name: sip-proxy-2\nnet0: virtio=BC:24:11:00:01:02,bridge=vmbr0\n" + (tag102 ? "tags: sip-proxy\n" : "")
        let vm900 = "name: homer\nnet1: virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094,firewall=0\n"
        return [".members": Array(members.utf8), ".vmlist": Array(vmlist.utf8),
                "nodes/pve1/qemu-server/101.conf": Array(vm101.utf8),
                "nodes/pve1/qemu-server/102.conf": Array(vm102.utf8),
                "nodes/pve1/qemu-server/900.conf": Array(vm900.utf8)]
    }

    static func inventory(tag102: Bool = false) -> Inventory {
        InventoryLoader.load(files: files(tag102: tag102), root: "/etc/pve").inventory
    }

    static let byTag = PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.tag("sip-proxy", nic: nil)]))])

    func testATagAddedInProxmoxStartsCopiesAndIsLoggedAsAnInventoryChange() throws {
        var h = CoreHarness(policy: Self.byTag, inventory: Self.inventory())
        let b = try XCTUnwrap(h.bridge(dpid: 1))
        XCTAssertEqual(h.core.status(now: h.now).bridges.first?.watchedPorts, [])
        let a = h.run(h.core.apply(inventoryFiles: Self.files(tag102: true), readProblems: [], changedFiles: ["nodes/pve1/qemu-server/102.conf"],
                                   root: "/etc/pve", detectedAt: h.now, now: h.now))
        XCTAssertEqual(lines(a, "inventory changed").first?.fields, ["files": "nodes/pve1/qemu-server/102.conf", "guests": "3"])
        XCTAssertGreaterThan(flowModCount(a, to: b), 0)
        let done = lines(h.receive(b, .barrierReply, xid: try XCTUnwrap(h.barrierXID(b))), "inventory applied")
        XCTAssertEqual(done.first?.fields["change"], "inventory change")
        let status = try XCTUnwrap(h.core.status(now: h.now).bridges.first)
        XCTAssertEqual(status.watchedPorts, ["tap102i0"])
        XCTAssertEqual(status.watchedGuests, ["102 (sip-proxy-2)"])
        // The same files again: nothing.
        XCTAssertEqual(h.run(h.core.apply(inventoryFiles: Self.files(tag102: true), readProblems: [], changedFiles: [], root: "/etc/pve",
                                          detectedAt: h.now, now: h.now)), [])
    }

    func testABrokenGuestConfigIsLoggedOnceAndItsLastGoodViewStays() throws {
        var h = CoreHarness(policy: CoreHarness.policy(watching: [101]), inventory: Self.inventory())
        _ = try XCTUnwrap(h.bridge(dpid: 1))
        let a = h.run(h.core.apply(inventoryFiles: Self.files(broken101: true), readProblems: [], changedFiles: ["nodes/pve1/qemu-server/101.conf"],
                                   root: "/etc/pve", detectedAt: h.now, now: h.now))
        let warnings = logLines(a).filter { $0.level == .warning }
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings.first?.message.hasPrefix("/etc/pve/nodes/pve1/qemu-server/101.conf:2:") ?? false, "\(warnings)")
        XCTAssertEqual(warnings.first?.fields["note"], "the last good view of that guest stays in force")
        XCTAssertEqual(h.core.inventory.guests[101]?.nics[0]?.mac, MACAddress("bc:24:11:00:01:01"))
        XCTAssertTrue(lines(a, "inventory changed").isEmpty, "the view did not change")
        let again = h.run(h.core.apply(inventoryFiles: Self.files(broken101: true), readProblems: [], changedFiles: [], root: "/etc/pve",
                                       detectedAt: h.now, now: h.now))
        XCTAssertTrue(logLines(again).isEmpty, "a problem already logged is not logged again")
        // Another guest's edit parses that guest only: the broken config's problem stands, unrepeated.
        let other = h.run(h.core.apply(inventoryFiles: Self.files(tag102: true, broken101: true), readProblems: [],
                                       changedFiles: ["nodes/pve1/qemu-server/102.conf"], root: "/etc/pve", detectedAt: h.now, now: h.now))
        XCTAssertEqual(logLines(other).filter { $0.level == .warning }, [], "not logged again")
        XCTAssertEqual(h.core.inventory.guests[102]?.tags, ["sip-proxy"])
        XCTAssertEqual(h.core.inventory.guests[101]?.nics[0]?.mac, MACAddress("bc:24:11:00:01:01"), "101's last good view")
        // Fixed: parsed again, the problem is gone, and a later break is logged again.
        h.run(h.core.apply(inventoryFiles: Self.files(tag102: true), readProblems: [], changedFiles: ["nodes/pve1/qemu-server/101.conf"],
                           root: "/etc/pve", detectedAt: h.now, now: h.now))
        let broken = h.run(h.core.apply(inventoryFiles: Self.files(tag102: true, broken101: true), readProblems: [],
                                        changedFiles: ["nodes/pve1/qemu-server/101.conf"], root: "/etc/pve", detectedAt: h.now, now: h.now))
        XCTAssertEqual(logLines(broken).filter { $0.level == .warning }.count, 1)
    }

    func testWarningsAreLoggedOnceAndFollowTheBridgesThatConnect() throws {
        // VM 555 is not in the cluster: a warning, never an error.
        var h = CoreHarness(policy: CoreHarness.policy(watching: [101, 555]), inventory: Self.inventory())
        let first = logLines(h.run(h.core.logWarnings())).filter { $0.level == .warning }
        XCTAssertTrue(first.contains { $0.message.contains("555") && $0.fields["where"] == "p.yaml:1:1" }, "\(first)")
        XCTAssertEqual(h.core.warnings.count, first.count)
        XCTAssertTrue(logLines(h.run(h.core.logWarnings())).isEmpty, "logged once")
        // A bridge connecting changes what is known about OVS bridges, not this warning: not logged again.
        let b = try XCTUnwrap(h.bridge(dpid: 1, peer: .inet(host: "192.0.2.11", port: 5000)))
        XCTAssertNotNil(h.core.connection(serving: 1).map { $0 == b })
        XCTAssertEqual(logLines(h.actions).filter { $0.level == .warning && $0.message.contains("555") }.count, 1, "no repeat on connect")
        XCTAssertTrue(h.core.status(now: h.now).warnings.contains { $0.contains("555") })
    }

    func testStatusNamesTheNodeFromThePeerAddressAndLabelsGuests() throws {
        var h = CoreHarness(policy: CoreHarness.policy(watching: [101]), inventory: Self.inventory())
        _ = try XCTUnwrap(h.bridge(dpid: 2, peer: .inet(host: "192.0.2.12", port: 41000)))
        _ = try XCTUnwrap(h.bridge(dpid: 1, peer: .unix(path: "/var/run/openvswitch/sipspan.sock")))
        _ = try XCTUnwrap(h.accept(.inet(host: "198.51.100.1", port: 1)))
        h.advance(3)
        let s = h.core.status(now: h.now)
        XCTAssertEqual(s.uptimeSeconds, 3)
        XCTAssertEqual(s.sessions, ["p"])
        XCTAssertEqual(s.inventoryGuests, 3)
        XCTAssertEqual(s.bridges.map(\.displayName), ["?", "pve1/vmbr0", "pve2/vmbr0"], "ordered by datapath id; a peer in its handshake first")
        XCTAssertEqual(s.bridges.map(\.state), [.awaitingHello, .ready, .ready])
        XCTAssertEqual(s.bridges.map(\.peer), ["198.51.100.1:1", "unix:/var/run/openvswitch/sipspan.sock", "192.0.2.12:41000"])
        XCTAssertEqual(s.bridges[1].watchedGuests, ["101 (sip-proxy-1)"])
        XCTAssertEqual(s.bridges[1].monitorPorts, ["tap900i1"])
        XCTAssertEqual(s.bridges[1].connectedSeconds, 3)
        XCTAssertEqual(s.bridges[1].flows, h.core.session(ConnectionID(2))?.installed.count)
        XCTAssertEqual(s.bridges[0].datapathID, nil)
        XCTAssertEqual(s.bridges[1].datapathID, "0000000000000001")
    }

    func testBridgeLogLinesCarryTheNodeAndThePeer() throws {
        var h = CoreHarness(policy: CoreHarness.policy(watching: [101]), inventory: Self.inventory())
        _ = try XCTUnwrap(h.bridge(dpid: 2, peer: .inet(host: "192.0.2.12", port: 41000)))
        let connected = try XCTUnwrap(lines(h.actions, "bridge connected").first)
        XCTAssertEqual(connected.fields["bridge"], "pve2/vmbr0")
        XCTAssertEqual(connected.fields["peer"], "192.0.2.12:41000")
        let confirmed = try XCTUnwrap(lines(h.actions, "bridge confirmed").first)
        XCTAssertEqual(confirmed.fields["bridge"], "pve2/vmbr0")
        XCTAssertEqual(Int(confirmed.fields["flow_mods"] ?? ""), counts(h.actions, .flowModsSent))
    }
}

final class PreviewTests: XCTestCase {
    func testAPreviewShowsEachBridgesChangeAndAppliesNothing() throws {
        var h = CoreHarness(policy: CoreHarness.policy(watching: [101]), inventory: InventoryAndWarningTests.inventory())
        let b = try XCTUnwrap(h.bridge(dpid: 1))
        let sentBefore = h.sent[b]?.count
        let p = h.core.preview(CoreHarness.policy(watching: [102]))
        XCTAssertTrue(p.valid)
        XCTAssertEqual(p.bridges.count, 1)
        let bridge = try XCTUnwrap(p.bridges.first)
        XCTAssertEqual(bridge.bridge, "pve1/vmbr0")
        XCTAssertEqual(bridge.datapathID, "0000000000000001")
        XCTAssertEqual(bridge.copiesStart, ["102 (sip-proxy-2)"])
        XCTAssertEqual(bridge.copiesStop, ["101 (sip-proxy-1)"])
        XCTAssertFalse(bridge.added.isEmpty)
        XCTAssertFalse(bridge.removed.isEmpty)
        XCTAssertTrue(bridge.added.allSatisfy { !bridge.removed.contains($0) })
        XCTAssertEqual(h.sent[b]?.count, sentBefore, "nothing sent")
        XCTAssertEqual(h.core.writtenPolicy, CoreHarness.policy(watching: [101]), "nothing applied")
        XCTAssertEqual(h.core.preview(CoreHarness.policy(watching: [101])).bridges.first?.added, [], "the policy in force changes nothing")
    }

    func testAnInvalidPolicyPreviewCarriesItsDiagnosticsAndNotes() {
        let errors = PolicyErrors([Diagnostic(.error, SourceLocation(file: "a.yaml", line: 1, column: 7), "duplicate session name 'p'",
                                              notes: [Diagnostic(.note, SourceLocation(file: "b.yaml", line: 1, column: 7), "'p' is first defined here")])])
        let p = PlanPreview.invalid(errors)
        XCTAssertFalse(p.valid)
        XCTAssertEqual(p.diagnostics, ["a.yaml:1:7: error: duplicate session name 'p'", "b.yaml:1:7: note: 'p' is first defined here"])
        XCTAssertEqual(p.bridges.count, 0)
    }
}

final class PmxcfsTests: XCTestCase {
    static let byTag = InventoryAndWarningTests.byTag

    func mounted(tag102: Bool = true) -> [String: [UInt8]] { InventoryAndWarningTests.files(tag102: tag102) }

    /// While pve-cluster restarts, /etc/pve is the bare mount point: no files at all.
    func testAnUnmountedPmxcfsIsUnknownNotEmpty() throws {
        var h = CoreHarness(policy: Self.byTag, inventory: InventoryAndWarningTests.inventory(tag102: true))
        h.core = ControllerCore(policy: Self.byTag, inventory: InventoryAndWarningTests.inventory(tag102: true), pveRoot: "/etc/pve",
                                pveFiles: mounted(), now: h.now)
        let b = try XCTUnwrap(h.bridge(dpid: 1))
        let flowsBefore = h.core.session(b)?.installed
        XCTAssertEqual(h.core.status(now: h.now).pmxcfs.state, .mounted)
        h.advance(1)
        let gone = h.run(h.core.apply(inventoryFiles: [:], readProblems: [], changedFiles: [".members", ".vmlist"], root: "/etc/pve",
                                      detectedAt: h.now, now: h.now))
        XCTAssertEqual(logLines(gone).map(\.message), ["pmxcfs unavailable; the last inventory and policy stay in force"])
        XCTAssertEqual(flowModCount(gone, to: b), 0, "no flow changes")
        XCTAssertEqual(h.core.session(b)?.installed, flowsBefore)
        XCTAssertEqual(h.core.inventory.guests.count, 3, "the last good inventory stays")
        XCTAssertEqual(h.core.status(now: h.now).bridges.first?.watchedGuests, ["102 (sip-proxy-2)"])
        XCTAssertTrue(h.core.session(b)?.plan?.learningPorts.isEmpty ?? false, "nothing is learned from frames meanwhile")
        // Still gone a few checks later: nothing more is said or done; the inventory ages.
        for _ in 0..<3 {
            h.advance(1)
            XCTAssertEqual(h.run(h.core.apply(inventoryFiles: nil, readProblems: [], changedFiles: [], root: "/etc/pve", detectedAt: h.now, now: h.now)), [])
        }
        let status = h.core.status(now: h.now).pmxcfs
        XCTAssertEqual(status.state, .unavailable)
        XCTAssertEqual(status.sinceSeconds, 3)
        XCTAssertEqual(status.inventoryAgeSeconds, 4)
        XCTAssertTrue(status.reason?.contains("/etc/pve/.members and /etc/pve/.vmlist cannot be read") ?? false, "\(status)")
        // Back with the same content: one line, nothing else changes.
        h.advance(1)
        let back = h.run(h.core.apply(inventoryFiles: mounted(), readProblems: [], changedFiles: [".members", ".vmlist"], root: "/etc/pve",
                                      detectedAt: h.now, now: h.now))
        XCTAssertEqual(logLines(back).map(\.message), ["pmxcfs available again"])
        XCTAssertEqual(logLines(back).first?.fields["unavailable_s"], "4.0")
        XCTAssertEqual(flowModCount(back, to: b), 0)
        XCTAssertEqual(h.core.status(now: h.now).pmxcfs.inventoryAgeSeconds, 0)
        // A real change after it is applied as usual.
        let untag = h.run(h.core.apply(inventoryFiles: mounted(tag102: false), readProblems: [], changedFiles: ["nodes/pve1/qemu-server/102.conf"],
                                       root: "/etc/pve", detectedAt: h.now, now: h.now))
        XCTAssertGreaterThan(flowModCount(untag, to: b), 0, "a tag really removed stops the copies")
    }

    func testPmxcfsMissingAtStartIsReportedAndTheInventoryComesWhenItIsMounted() throws {
        var h = CoreHarness(policy: Self.byTag)
        h.core = ControllerCore(policy: Self.byTag, pveRoot: "/etc/pve", pveFiles: [:], now: h.now)
        XCTAssertEqual(logLines(h.run(h.core.logWarnings())).map(\.message), ["pmxcfs unavailable at start; no inventory until it is mounted"])
        XCTAssertNil(h.core.status(now: h.now).pmxcfs.inventoryAgeSeconds)
        let b = try XCTUnwrap(h.bridge(dpid: 1))
        let a = h.run(h.core.apply(inventoryFiles: mounted(), readProblems: [], changedFiles: [".members"], root: "/etc/pve", detectedAt: h.now, now: h.now))
        XCTAssertEqual(lines(a, "pmxcfs available again").count, 1)
        XCTAssertEqual(lines(a, "inventory changed").count, 1)
        XCTAssertGreaterThan(flowModCount(a, to: b), 0)
    }

    func testWithoutAnInventoryThereIsNoPmxcfsState() {
        let h = CoreHarness()
        XCTAssertEqual(h.core.status(now: h.now).pmxcfs.state, .none)
    }

    func testPolicyFilesGoneWithPmxcfsAreUnknownNotInvalid() {
        var h = CoreHarness()
        let errors = PolicyErrors([Diagnostic(.error, SourceLocation(file: "/etc/pve/sipspan", line: 1, column: 1), "no such file or directory")])
        let a = h.run(h.core.reject(policy: errors, changedFiles: ["/etc/pve/sipspan/p.yaml"], trigger: "inotify", pmxcfsUnmounted: true))
        XCTAssertEqual(logLines(a).map(\.message), ["policy files unreadable while pmxcfs is not mounted; the last valid policy stays in force"])
        XCTAssertEqual(logLines(a).first?.level, .warning)
    }
}

final class RoleTests: XCTestCase {
    func testAStandbyTakesOverWithANewerGenerationAndHandsBack() throws {
        var h = CoreHarness()
        h.core = ControllerCore(policy: CoreHarness.policy(watching: [101]), role: .slave, wallClockMilliseconds: 1_700_000_000_000, now: h.now)
        let b = try XCTUnwrap(h.bridge(dpid: 1))
        func roleRequests() -> [(ControllerRole, UInt64)] {
            h.sent[b]?.compactMap { if case let .roleRequest(r, g) = $0.message { return (r, g) }; return nil } ?? []
        }
        XCTAssertEqual(roleRequests().map(\.0), [.slave])
        XCTAssertEqual(roleRequests().first?.1, 1_700_000_000_000, "generation: wall-clock milliseconds at the request")
        XCTAssertEqual(h.core.status(now: h.now).bridges.first?.writing, false)
        h.advance(2.5)
        let takeover = h.run(h.core.setRole(.master, reason: "primary silent", now: h.now))
        XCTAssertEqual(roleRequests().map(\.0), [.slave, .master])
        XCTAssertEqual(roleRequests().last?.1, 1_700_000_002_500, "a later request carries a later generation")
        XCTAssertGreaterThan(flowModCount(takeover, to: b), 0, "as master it installs what the bridge lacks")
        XCTAssertEqual(lines(takeover, "role changed").first?.fields["role"], "master")
        XCTAssertEqual(h.core.status(now: h.now).role, "master")
        XCTAssertEqual(h.run(h.core.setRole(.master, reason: "again", now: h.now)), [], "no change, nothing sent")
        h.advance(1)
        h.run(h.core.setRole(.slave, reason: "primary back", now: h.now))
        XCTAssertEqual(roleRequests().last.map { [$0.0] }, [.slave])
        XCTAssertEqual(h.core.status(now: h.now).bridges.first?.writing, false)
    }
}
