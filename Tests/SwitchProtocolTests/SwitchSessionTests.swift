import FlowPlanning
import OpenFlow
import Policy
@testable import SwitchProtocol
import XCTest

/// Drives one `SwitchSession` like a switch would, with a hand-moved clock: no sockets, no sleeps.
struct Harness {
    var session: SwitchSession
    var now: UInt64 = 1_000_000_000
    var context: PlanningContext
    /// Everything the session sent, in order.
    var sent: [OutgoingMessage] = []

    static let policy: PolicySet = {
        PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]))])
    }()
    static let ports: [PortDescription] = [
        PortDescription(portNumber: PortNumber.local, name: "vmbr0"),
        PortDescription(portNumber: 1, name: "tap101i0"),
        PortDescription(portNumber: 3, name: "tap900i1"),
        PortDescription(portNumber: 4, name: "eno1"),
    ]

    init(configuration: SessionConfiguration = SessionConfiguration(), policy: PolicySet = Harness.policy) {
        session = SwitchSession(configuration: configuration, now: now)
        context = PlanningContext(policy: policy)
    }

    mutating func advance(_ seconds: Double) { now += UInt64(seconds * 1e9) }

    @discardableResult
    mutating func feed(_ input: SessionInput) -> [SessionAction] {
        let actions = session.handle(input, now: now, context: context)
        for case let .send(m) in actions { sent += m }
        return actions
    }

    @discardableResult
    mutating func receive(_ m: Message, xid: UInt32 = 0) -> [SessionAction] { feed(.frame(m.encoded(xid: xid))) }

    /// The xid of the last request of a kind the session sent.
    func lastXID(where predicate: (Message) -> Bool) -> UInt32? { sent.last { predicate($0.message) }?.xid }
    var portDescXID: UInt32? { lastXID { if case .multipartRequest(.portDesc, _) = $0 { return true }; return false } }
    var flowStatsXID: UInt32? { lastXID { if case .multipartRequest(.flow, _) = $0 { return true }; return false } }
    var barrierXID: UInt32? { lastXID { $0 == .barrierRequest } }

    /// Connect, HELLO, FEATURES and the sync replies (with `installed` flows on the switch).
    mutating func handshake(dpid: UInt64 = 0x71, installed: [FlowStats] = [], ports: [PortDescription] = Harness.ports) -> [SessionAction] {
        var all = feed(.connected)
        all += receive(.hello(versions: [4]))
        all += receive(.featuresReply(SwitchFeatures(datapathID: dpid)), xid: 2)
        all += receive(.multipartReply(.portDesc(ports), flags: 0), xid: portDescXID ?? 0)
        all += receive(.multipartReply(.flow(installed), flags: 0), xid: flowStatsXID ?? 0)
        return all
    }

    /// The flows the session installed, as the switch would report them.
    var installedStats: [FlowStats] {
        session.installed.values.map { FlowStats(tableID: $0.table, priority: $0.priority, cookie: $0.cookie, match: $0.match, instructions: $0.instructions) }
    }
}

func closeKinds(_ actions: [SessionAction]) -> [CloseReason.Kind] {
    actions.compactMap { if case let .close(r) = $0 { return r.kind }; return nil }
}

/// The messages of the `.send` actions, in order.
func sentMessages(_ actions: [SessionAction]) -> [OutgoingMessage] {
    actions.flatMap { a -> [OutgoingMessage] in if case let .send(ms) = a { return ms }; return [] }
}

/// The flow_mods sent, whether alone or inside a bundle.
func flowMods(_ actions: [SessionAction]) -> [FlowMod] {
    sentMessages(actions).compactMap {
        switch $0.message {
        case let .flowMod(f), let .bundleAdd(_, _, f): return f
        default: return nil
        }
    }
}

final class SwitchSessionTests: XCTestCase {
    /// A standby (slave) reads but never writes; taking over (master) it requests the role with its
    /// generation id and sends what the bridge lacks; a stale request or an IS_SLAVE error stops it.
    func testRolesDecideWhoWrites() {
        var h = Harness()
        h.context.role = .slave
        h.context.generationID = 1000
        let a = h.handshake()
        XCTAssertTrue(h.sent.contains { $0.message == .roleRequest(role: .slave, generationID: 1000) })
        XCTAssertEqual(flowMods(a).filter { $0.flags & FlowModFlags.checkOverlap == 0 }, [], "a slave writes nothing")
        XCTAssertTrue(a.contains(.confirmed))
        XCTAssertFalse(h.session.plan?.watchedPorts.isEmpty ?? true, "the plan is known (for status)")
        XCTAssertTrue(flowMods(h.feed(.planChanged(reload: 1))).isEmpty)
        h.context.role = .master
        h.context.generationID = 2000
        let takeover = h.feed(.roleChanged)
        XCTAssertTrue(h.sent.contains { $0.message == .roleRequest(role: .master, generationID: 2000) })
        XCTAssertFalse(flowMods(takeover).isEmpty, "as master it writes")
        // Another controller became master with a newer generation: stop writing.
        let stale = h.receive(.error(type: ErrorType.roleRequestFailed.rawValue, code: RoleRequestFailedCode.stale.rawValue, data: []), xid: 1)
        XCTAssertFalse(stale.contains { if case .switchError = $0 { return true }; return false })
        XCTAssertTrue(h.session.demoted)
        h.context.policy = PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([]))])
        XCTAssertTrue(flowMods(h.feed(.planChanged(reload: 2))).isEmpty, "not while another controller is master")
    }

    /// A primary's master request refused as stale because a standby's slave request carried a newer
    /// wall-clock generation id (both started together): the primary asks the switch's generation id
    /// and requests master again above it, instead of leaving the bridge with no writer. Bounded.
    func testAStaleMasterRequestIsAskedAgainAboveTheSwitchsGenerationID() throws {
        var h = Harness()
        h.context.role = .master
        h.context.generationID = 1000
        _ = h.handshake()
        let request = try XCTUnwrap(h.sent.last { $0.message == .roleRequest(role: .master, generationID: 1000) })
        let stale = h.receive(.error(type: ErrorType.roleRequestFailed.rawValue, code: RoleRequestFailedCode.stale.rawValue, data: []), xid: request.xid)
        XCTAssertTrue(h.session.demoted, "not written until the role is granted")
        let query = try XCTUnwrap(sentMessages(stale).first { $0.message == .roleRequest(role: .noChange, generationID: 0) })
        h.context.policy = PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([]))])
        XCTAssertTrue(flowMods(h.feed(.planChanged(reload: 2))).isEmpty, "nothing written while the role is asked for")
        // The switch's generation id is the standby's (1020): master again at 1021.
        let asked = h.receive(.roleReply(role: .equal, generationID: 1020), xid: query.xid)
        let again = try XCTUnwrap(sentMessages(asked).first { $0.message == .roleRequest(role: .master, generationID: 1021) })
        XCTAssertTrue(h.session.demoted)
        let granted = h.receive(.roleReply(role: .master, generationID: 1021), xid: again.xid)
        XCTAssertFalse(h.session.demoted)
        XCTAssertFalse(flowMods(granted).isEmpty, "what waited is written once the role is granted")
        // A later stale refusal of a request that is not the latest (another master since): demoted, no query.
        let other = h.receive(.error(type: ErrorType.roleRequestFailed.rawValue, code: RoleRequestFailedCode.stale.rawValue, data: []), xid: request.xid)
        XCTAssertTrue(h.session.demoted)
        XCTAssertFalse(sentMessages(other).contains { $0.message == .roleRequest(role: .noChange, generationID: 0) })
        // At most three retries per connection: a switch that keeps refusing is not asked forever.
        var b = Harness()
        b.context.role = .master
        _ = b.handshake()
        var queries = 0
        for _ in 0..<6 {
            guard let r = b.sent.last(where: { if case .roleRequest(.master, _) = $0.message { return true }; return false }) else { break }
            let o = b.receive(.error(type: ErrorType.roleRequestFailed.rawValue, code: RoleRequestFailedCode.stale.rawValue, data: []), xid: r.xid)
            guard let q = sentMessages(o).first(where: { $0.message == .roleRequest(role: .noChange, generationID: 0) }) else { break }
            queries += 1
            _ = b.receive(.roleReply(role: .equal, generationID: UInt64(5000 + queries)), xid: q.xid)
        }
        XCTAssertEqual(queries, SwitchSession.maxStaleRoleRetries)
        XCTAssertTrue(b.session.demoted)
    }

    /// A change is one atomic bundle: open, the flow_mods, commit (atomic), then the barrier that confirms it.
    func testAChangeIsOneAtomicBundleConfirmedByABarrier() throws {
        var h = Harness()
        let actions = h.handshake()
        let change = try XCTUnwrap(actions.compactMap { a -> [OutgoingMessage]? in
            if case let .send(ms) = a, ms.contains(where: { if case .bundleAdd = $0.message { return true }; return false }) { return ms }
            return nil
        }.first)
        guard case let .bundleControl(id, .openRequest, flags) = change.first?.message else { return XCTFail("\(change.map(\.message))") }
        XCTAssertEqual(flags, Bundle.atomic)
        XCTAssertEqual(change.dropFirst().prefix { if case .bundleAdd = $0.message { return true }; return false }.count, change.count - 3)
        XCTAssertEqual(change[change.count - 2].message, .bundleControl(bundleID: id, type: .commitRequest, flags: Bundle.atomic))
        XCTAssertEqual(change.last?.message, .barrierRequest)
        XCTAssertTrue(change.allSatisfy { if case let .bundleAdd(b, _, _) = $0.message { return b == id }; return true })
        // The switch refuses bundles (an OVS that lacks the extension): plain flow_mods afterwards.
        let refused = h.receive(.error(type: ErrorType.badRequest.rawValue, code: BadRequestCode.badExperimenter.rawValue, data: []), xid: change[0].xid)
        XCTAssertFalse(refused.contains { if case .switchError = $0 { return true }; return false })
        XCTAssertFalse(h.session.bundles)
        h.receive(.barrierReply, xid: change.last?.xid ?? 0)
        guard let audit = h.flowStatsXID else { return XCTFail("a repair reads the flows back") }
        let repaired = h.receive(.multipartReply(.flow([]), flags: 0), xid: audit)
        let sent = repaired.flatMap { a -> [OutgoingMessage] in if case let .send(ms) = a { return ms }; return [] }
        XCTAssertFalse(sent.isEmpty)
        XCTAssertTrue(sent.allSatisfy { if case .bundleAdd = $0.message { return false }; if case .bundleControl = $0.message { return false }; return true })
    }

    func testConnectSendsTheNormalFlowBeforeAnythingThatEndsFailOpen() {
        var h = Harness()
        let actions = h.feed(.connected)
        guard case let .send(messages)? = actions.first else { return XCTFail("expected one send, got \(actions)") }
        let kinds = messages.map { m -> String in
            switch m.message {
            case .hello: return "hello"
            case .featuresRequest: return "features"
            case .setConfig: return "set_config"
            case .setAsync(.timeoutsOnly): return "set_async"
            case let .flowMod(f):
                return f.priority == 0 && f.instructions == [.applyActions([.normal])] && f.flags & FlowModFlags.checkOverlap != 0 ? "normal+check_overlap" : "flow_mod"
            case .multipartRequest(.portDesc, _): return "port_desc"
            case let .multipartRequest(.flow(_, _, mask, _), _): return mask == 0 ? "all_flows" : "some_flows"
            default: return "other"
            }
        }
        // OVS leaves fail-open on the first flow_mod, barrier or stats request: the NORMAL flow is first of those.
        XCTAssertEqual(kinds, ["hello", "features", "set_config", "normal+check_overlap", "normal+check_overlap", "set_async", "port_desc", "all_flows"])
        // Unicast and multicast halves: every frame, and never the identical match of a flow already there.
        let halves = messages.compactMap { m -> Match? in if case let .flowMod(f) = m.message, f.priority == 0 { return f.match }; return nil }
        XCTAssertEqual(halves.count, 2)
        XCTAssertFalse(halves.contains(.any))
        XCTAssertEqual(Set(messages.map(\.xid)).count, messages.count, "xids are distinct")
        XCTAssertEqual(h.session.phase, .awaitingHello)
    }

    func testHandshakeSyncReconcileAndConfirmation() {
        var h = Harness()
        let actions = h.handshake()
        XCTAssertTrue(actions.contains(.claimDatapath(0x71)))
        XCTAssertTrue(actions.contains(.ready))
        XCTAssertEqual(h.session.phase, .ready)
        XCTAssertEqual(h.session.bridgeName, "vmbr0")
        let mods = flowMods(actions).filter { $0.flags & FlowModFlags.checkOverlap == 0 }
        XCTAssertFalse(mods.isEmpty)
        XCTAssertTrue(mods.allSatisfy { $0.command == .add })
        XCTAssertEqual(mods.first?.priority, FlowPriority.normal, "NORMAL first among the adds")
        XCTAssertFalse(actions.contains(.confirmed), "not confirmed before the barrier reply")
        guard let barrier = h.barrierXID else { return XCTFail("no barrier") }
        let after = h.receive(.barrierReply, xid: barrier)
        XCTAssertTrue(after.contains(.confirmed))
        XCTAssertNotNil(h.session.confirmedAt)
        XCTAssertTrue(after.contains { if case let .applied(c) = $0 { return c.reason == .connect && c.added == mods.count }; return false })
    }

    func testReconnectWithEverythingInstalledSendsNoFlowMod() {
        var first = Harness()
        _ = first.handshake()
        var second = Harness()
        let actions = second.handshake(installed: first.installedStats)
        XCTAssertEqual(flowMods(actions).filter { $0.flags & FlowModFlags.checkOverlap == 0 }, [])
        XCTAssertTrue(actions.contains(.confirmed), "confirmed at once: nothing to wait for")
    }

    func testAnOperatorsFlowIsNeverReplaced() {
        var h = Harness()
        // An operator holds the key of sipspan's guard flow (priority 2000, in_port=3) with another cookie.
        let operatorFlow = FlowStats(tableID: 0, priority: FlowPriority.guardDrop, cookie: 0x1234, match: Match([.inPort(3)]),
                                     instructions: [.applyActions([.output(4)])])
        let actions = h.handshake(installed: [operatorFlow])
        let mods = flowMods(actions)
        XCTAssertFalse(mods.contains { $0.priority == FlowPriority.guardDrop && $0.match == Match([.inPort(3)]) }, "operator's flow left alone")
        XCTAssertEqual(h.session.conflicts.map(\.key), [Flow(stats: operatorFlow).key])
        XCTAssertTrue(actions.contains { if case let .log(l) = $0 { return l.level == .warning && l.message.contains("another cookie") }; return false })
        // The bootstrap NORMAL meeting an existing priority-0 flow is not a switch error.
        let bootstrapXID = h.sent.first { if case let .flowMod(f) = $0.message { return f.flags & FlowModFlags.checkOverlap != 0 }; return false }?.xid ?? 0
        let err = h.receive(.error(type: 5, code: 1, data: []), xid: bootstrapXID)
        XCTAssertFalse(err.contains(.switchError(type: 5, code: 1)))
        let other = h.receive(.error(type: 5, code: 1, data: []), xid: 999_999)
        XCTAssertTrue(other.contains(.switchError(type: 5, code: 1)))
    }

    func testHandshakeTimeoutsNameWhatWasMissing() {
        var c = SessionConfiguration(); c.handshakeTimeout = 3
        var noHello = Harness(configuration: c)
        noHello.feed(.connected)
        noHello.advance(2.9)
        XCTAssertEqual(closeKinds(noHello.feed(.tick)), [])
        noHello.advance(0.2)
        let a = noHello.feed(.tick)
        XCTAssertEqual(closeKinds(a), [.handshakeTimeout])
        XCTAssertTrue("\(a)".contains("no HELLO"))
        XCTAssertEqual(noHello.session.phase, .closed)
        XCTAssertEqual(noHello.feed(.tick), [], "a closed session does nothing")

        var noFeatures = Harness(configuration: c)
        noFeatures.feed(.connected)
        noFeatures.receive(.hello(versions: [4]))
        noFeatures.advance(3.1)
        let b = noFeatures.feed(.tick)
        XCTAssertEqual(closeKinds(b), [.handshakeTimeout])
        XCTAssertTrue("\(b)".contains("no FEATURES_REPLY"))
    }

    func testSyncTimeout() {
        var c = SessionConfiguration(); c.syncTimeout = 4
        var h = Harness(configuration: c)
        h.feed(.connected)
        h.receive(.hello(versions: [4]))
        h.receive(.featuresReply(SwitchFeatures(datapathID: 1)))
        h.receive(.multipartReply(.portDesc(Harness.ports), flags: 0), xid: h.portDescXID ?? 0)
        // The peer keeps answering echoes but never sends the flow stats.
        for _ in 0..<4 {
            h.advance(1)
            h.receive(.echoRequest([]), xid: 77)
            XCTAssertEqual(closeKinds(h.feed(.tick)), [])
        }
        h.advance(0.5)
        let a = h.feed(.tick)
        XCTAssertEqual(closeKinds(a), [.syncTimeout])
        XCTAssertTrue("\(a)".contains("flow stats"))
    }

    func testBarrierTimeout() {
        var c = SessionConfiguration(); c.barrierTimeout = 5
        var h = Harness(configuration: c)
        _ = h.handshake()
        XCTAssertNotNil(h.barrierXID)
        for _ in 0..<5 {
            h.advance(1)
            h.receive(.echoReply([]))
            XCTAssertEqual(closeKinds(h.feed(.tick)), [])
        }
        h.advance(0.5)
        XCTAssertEqual(closeKinds(h.feed(.tick)), [.barrierTimeout])
    }

    func testEchoThenDeadPeer() {
        var h = Harness()
        _ = h.handshake()
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        h.advance(5.5)
        let a = h.feed(.tick)
        XCTAssertTrue(a.contains { if case let .send(m) = $0 { return m.first?.message == .echoRequest([]) }; return false })
        XCTAssertNotNil(h.session.echoSentAt)
        h.advance(1)
        XCTAssertTrue(h.feed(.tick).isEmpty, "one echo outstanding at a time")
        h.advance(9)
        XCTAssertEqual(closeKinds(h.feed(.tick)), [.deadPeer])
    }

    func testEchoRequestsAreAnsweredWithTheirXID() {
        var h = Harness()
        h.feed(.connected)
        h.receive(.hello(versions: [4]))
        let a = h.receive(.echoRequest([1, 2, 3]), xid: 0xdead_beef)
        XCTAssertEqual(a, [.send([OutgoingMessage(xid: 0xdead_beef, message: .echoReply([1, 2, 3]))])])
    }

    func testAnAuditWaitsWhileAChangeIsInFlight() {
        var c = SessionConfiguration(); c.auditInterval = 10; c.barrierTimeout = 100; c.deadPeerTimeout = 100; c.echoInterval = 50
        var h = Harness(configuration: c)
        _ = h.handshake()
        let barrier = h.barrierXID ?? 0
        h.advance(11)
        let during = h.feed(.tick)
        XCTAssertFalse(during.contains { if case let .send(m) = $0 { return m.contains { if case .multipartRequest(.flow, _) = $0.message { return true }; return false } }; return false },
                       "no audit while a barrier is outstanding")
        h.receive(.barrierReply, xid: barrier)
        h.advance(1)
        let after = h.feed(.tick)
        XCTAssertTrue(after.contains { if case let .send(m) = $0 { return m.contains { if case .multipartRequest(.flow, _) = $0.message { return true }; return false } }; return false })
        // The audit finds a flow deleted behind sipspan's back and puts it back.
        var stats = h.installedStats
        let removed = stats.removeLast()
        let repaired = h.receive(.multipartReply(.flow(stats), flags: 0), xid: h.flowStatsXID ?? 0)
        XCTAssertEqual(flowMods(repaired).map(\.match), [removed.match])
        XCTAssertTrue(repaired.contains { if case .changeSent(1, 0, nil) = $0 { return true }; return false })
    }

    func testXIDsWrapAroundAndBarriersStillMatch() {
        var h = Harness()
        h.session.upcomingXID = UInt32.max - 2
        _ = h.handshake()
        let xids = h.sent.map(\.xid)
        XCTAssertTrue(xids.contains(UInt32.max))
        XCTAssertFalse(xids.contains(0), "0 is never used")
        XCTAssertEqual(Set(xids).count, xids.count)
        guard let barrier = h.barrierXID else { return XCTFail("no barrier") }
        XCTAssertLessThan(barrier, 100, "the barrier's xid wrapped")
        XCTAssertTrue(h.receive(.barrierReply, xid: barrier).contains(.confirmed))
    }

    func testAPortStatusBurstCostsOneReconcile() {
        var h = Harness(policy: PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .all)]))
        _ = h.handshake()
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        var schedules = 0
        for i in 0..<200 {
            let a = h.receive(.portStatus(reason: .add, port: PortDescription(portNumber: UInt32(100 + i), name: "tap\(200 + i)i0")))
            schedules += a.filter { $0 == .scheduleReconcile }.count
            XCTAssertTrue(flowMods(a).isEmpty, "no flow_mod per event")
        }
        XCTAssertEqual(schedules, 1)
        let due = h.feed(.reconcileDue)
        XCTAssertEqual(due.filter { if case .send = $0 { return true }; return false }.count, 1, "one write")
        XCTAssertEqual(h.sent.filter { $0.message == .barrierRequest }.count, 2, "one barrier for the burst")
        XCTAssertTrue(flowMods(due).contains { $0.match.inPort == 299 })
        XCTAssertTrue(h.feed(.reconcileDue).isEmpty, "nothing left to do")
    }

    /// A `sipfeed…` port is announced to the runtime; once it is opened the media NIC's SIP copy flows
    /// output to it instead of the controller, and frames fed from it make a call's media flows; a
    /// failed open is logged once and retried; the port going away falls back to PACKET_IN.
    func testAMediaFeedPortIsAnnouncedUsedAndDropped() {
        let media = PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]), media: .rtcp)])
        var h = Harness(policy: media)
        let guest = MACAddress("bc:24:11:00:01:01")!, far = MACAddress("bc:24:11:00:0f:0f")!
        let feedMAC = MACAddress("02:00:00:00:00:09")!
        let feed = MediaFeedPort(name: "sipfeed0", port: 9, hardwareAddress: feedMAC)
        let all = h.handshake(ports: Harness.ports + [PortDescription(portNumber: 9, name: "sipfeed0", hardwareAddress: feedMAC.bytes)])
        XCTAssertTrue(all.contains(.watchMediaFeed(feed)), "the candidate is announced with its hardware address")
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        func actionsOf(_ m: FlowMod) -> [Action] { m.instructions.flatMap { if case let .applyActions(a) = $0 { return a }; return [] } }
        let toController = Action.output(port: PortNumber.controller, maxLength: 0xffff)
        XCTAssertTrue(h.session.installed.values.contains { f in f.instructions.contains { if case let .applyActions(a) = $0 { return a.contains(toController) }; return false } },
                      "until the feed is open, PACKET_IN")

        // The runtime could not open it: logged once, asked again 10 s later.
        let failed = h.feed(.mediaFeed(feed, opened: false, detail: "no interface sipfeed0 on this host"))
        XCTAssertEqual(failed.filter { if case let .log(l) = $0 { return l.message.hasPrefix("media feed not used") }; return false }.count, 1)
        h.advance(5); XCTAssertFalse(h.feed(.tick).contains(.watchMediaFeed(feed)))
        h.advance(6); XCTAssertTrue(h.feed(.tick).contains(.watchMediaFeed(feed)), "retried")
        let again = h.feed(.mediaFeed(feed, opened: false, detail: "no interface sipfeed0 on this host"))
        XCTAssertFalse(again.contains { if case .log = $0 { return true }; return false }, "the same reason is not logged again")

        // Opened: the SIP copy flows of the media NIC now output to port 9.
        let opened = h.feed(.mediaFeed(feed, opened: true, detail: "raw socket"))
        XCTAssertTrue(opened.contains(.scheduleReconcile))
        let change = flowMods(h.feed(.reconcileDue))
        XCTAssertFalse(change.isEmpty)
        XCTAssertTrue(change.filter { $0.command != .delete && $0.command != .deleteStrict }.allSatisfy { actionsOf($0).contains(.output(port: 9, maxLength: 0)) })
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        XCTAssertEqual(h.session.mediaFeed, feed)
        XCTAssertFalse(h.session.installed.values.contains { f in f.instructions.contains { if case let .applyActions(a) = $0 { return a.contains(toController) }; return false } })

        // A call's SIP read from the feed (no ingress port) makes its media flows.
        func frame(_ src: MACAddress, _ dst: MACAddress, _ srcIP: [UInt8], _ dstIP: [UInt8], _ text: String) -> [UInt8] {
            let payload = Array(text.utf8)
            let udp: [UInt8] = [0x13, 0xc4, 0x13, 0xc4, UInt8((8 + payload.count) >> 8), UInt8((8 + payload.count) & 0xff), 0, 0]
            let total = 20 + udp.count + payload.count
            return dst.bytes + src.bytes + [8, 0] + [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0, 0, 64, 17, 0, 0] + srcIP + dstIP + udp + payload
        }
        func sip(_ start: String, toTag: String?, ip: String, port: Int) -> String {
            let body = "v=0\r\no=- 1 1 IN IP4 \(ip)\r\ns=-\r\nc=IN IP4 \(ip)\r\nt=0 0\r\nm=audio \(port) RTP/AVP 0\r\n"
            return [start, "Via: SIP/2.0/UDP 10.9.0.101;branch=z9hG4bK1", "From: <sip:a@x>;tag=a1", "To: <sip:b@x>" + (toTag.map { ";tag=\($0)" } ?? ""),
                    "Call-ID: feed-1", "CSeq: 1 INVITE", "Content-Type: application/sdp", "Content-Length: \(body.utf8.count)"].joined(separator: "\r\n") + "\r\n\r\n" + body
        }
        // The guest's MAC (no inventory here): learned from its first frame, as without a feed.
        let first = frame(guest, far, [10, 9, 0, 101], [10, 9, 0, 250], "x")
        h.receive(.packetIn(PacketIn(totalLength: UInt16(first.count), reason: 1, tableID: 0, cookie: FlowCookie.cookie(.learning),
                                     match: Match([.inPort(1)]), data: first)))
        h.feed(.reconcileDue)
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        h.feed(.feedFrame(frame(guest, far, [10, 9, 0, 101], [10, 9, 0, 250], sip("INVITE sip:b@x SIP/2.0", toTag: nil, ip: "10.9.0.101", port: 40000))))
        let answer = h.feed(.feedFrame(frame(far, guest, [10, 9, 0, 250], [10, 9, 0, 101], sip("SIP/2.0 200 OK", toTag: "b1", ip: "10.9.0.250", port: 50000))))
        XCTAssertEqual(Set(flowMods(answer).compactMap { $0.match.value(of: .udpDst)?.integer }), [40001, 50001])
        XCTAssertEqual(h.session.media.counters.fedFrames, 2)

        // The port goes away: the runtime is told to stop, and the flows go back to the controller.
        let gone = h.receive(.portStatus(reason: .delete, port: PortDescription(portNumber: 9, name: "sipfeed0", hardwareAddress: feedMAC.bytes)))
        XCTAssertTrue(gone.contains(.watchMediaFeed(nil)))
        XCTAssertNil(h.session.mediaFeed)
        let back = flowMods(h.feed(.reconcileDue))
        XCTAssertTrue(back.filter { $0.command != .delete && $0.command != .deleteStrict }.contains { actionsOf($0).contains(toController) })
        XCTAssertTrue(h.feed(.feedFrame(frame(guest, far, [10, 9, 0, 101], [10, 9, 0, 250], "x"))).isEmpty, "frames of a stopped feed are ignored")
    }

    func testTooManyPortsCloses() {
        var c = SessionConfiguration(); c.maximumPorts = 10
        var h = Harness(configuration: c)
        _ = h.handshake()
        var kinds: [CloseReason.Kind] = []
        for i in 0..<20 where kinds.isEmpty {
            kinds = closeKinds(h.receive(.portStatus(reason: .add, port: PortDescription(portNumber: UInt32(100 + i), name: "p\(i)"))))
        }
        XCTAssertEqual(kinds, [.tooManyPorts])
    }

    func testVersionMismatchAndMessagesBeforeHello() {
        var h = Harness()
        h.feed(.connected)
        let a = h.receive(.hello(versions: [1]))
        XCTAssertEqual(closeKinds(a), [.versionMismatch])
        XCTAssertTrue(a.contains { if case let .send(m) = $0 { return m.contains { if case .error(0, 0, _) = $0.message { return true }; return false } }; return false })

        var g = Harness()
        g.feed(.connected)
        XCTAssertEqual(closeKinds(g.receive(.featuresReply(SwitchFeatures(datapathID: 1)))), [.unexpectedMessage])

        var m = Harness()
        m.feed(.connected)
        XCTAssertEqual(closeKinds(m.feed(.frame([4, 0, 0, 4, 0, 0, 0, 1]))), [.malformedMessage])
    }

    func testPolicyChangeIsConfirmedWithItsReload() {
        var h = Harness()
        _ = h.handshake()
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        h.context.policy = PolicySet([MirrorSession(name: "p", file: "p.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([]))])
        let a = h.feed(.planChanged(reload: 7))
        XCTAssertTrue(a.contains { if case let .changeSent(0, removed, 7) = $0 { return removed > 0 }; return false })
        XCTAssertTrue(flowMods(a).allSatisfy { $0.command == .deleteStrict && $0.cookieMask == FlowCookie.prefixMask })
        XCTAssertEqual(h.session.pendingReloads, [7])
        let done = h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        XCTAssertTrue(done.contains { if case let .applied(c) = $0 { return c.reload == 7 }; return false })
        XCTAssertEqual(h.session.pendingReloads, [])
        XCTAssertTrue(h.feed(.planChanged(reload: 8)).allSatisfy { if case .changeSent = $0 { return false }; return true }, "an unchanged plan sends nothing")
    }
}

final class DatapathClaimTests: XCTestCase {
    func testTheIncumbentKeepsItsDatapathWhileItAnswers() {
        let c = SessionConfiguration()  // echo reply timeout 2 s
        let now: UInt64 = 100_000_000_000
        XCTAssertEqual(DatapathClaim.decide(echoOutstandingSince: nil, now: now, configuration: c), .keepIncumbent)
        XCTAssertEqual(DatapathClaim.decide(echoOutstandingSince: now - 1_900_000_000, now: now, configuration: c), .keepIncumbent)
        XCTAssertEqual(DatapathClaim.decide(echoOutstandingSince: now - 2_000_000_000, now: now, configuration: c), .replaceIncumbent)
        XCTAssertEqual(DatapathClaim.decide(echoOutstandingSince: now + 5, now: now, configuration: c), .keepIncumbent, "a clock reading before the echo is not silence")
    }

    func testAnEchoAnsweredResetsSilence() {
        var h = Harness()
        _ = h.handshake()
        h.receive(.barrierReply, xid: h.barrierXID ?? 0)
        h.advance(6)
        h.feed(.tick)
        XCTAssertNotNil(h.session.echoSentAt)
        h.advance(3)
        XCTAssertEqual(DatapathClaim.decide(echoOutstandingSince: h.session.echoSentAt, now: h.now, configuration: h.session.configuration), .replaceIncumbent)
        h.receive(.echoReply([]))
        XCTAssertNil(h.session.echoSentAt)
        XCTAssertEqual(DatapathClaim.decide(echoOutstandingSince: h.session.echoSentAt, now: h.now, configuration: h.session.configuration), .keepIncumbent)
    }
}

final class MillisecondsTests: XCTestCase {
    func testFixedDecimals() {
        XCTAssertEqual(milliseconds(from: 0, to: 3_080_000), "3.08")
        XCTAssertEqual(milliseconds(from: 0, to: 3_000_000), "3.00")
        XCTAssertEqual(milliseconds(from: 0, to: 3_050_000, digits: 1), "3.1")
        XCTAssertEqual(milliseconds(from: 10, to: 5), "0.00")
    }
}
