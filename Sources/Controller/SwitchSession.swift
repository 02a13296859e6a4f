import Dispatch
import FlowPlanning
import Logging
import OpenFlow
import Policy

/// Monotonic nanoseconds.
public func monotonicNow() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A duration between two `monotonicNow()` readings as milliseconds for a log field, e.g. "3.08".
func milliseconds(from start: UInt64, to end: UInt64 = monotonicNow(), digits: Int = 2) -> String {
    String(format: "%.\(digits)f", Double(end &- start) / 1e6)
}

/// The OpenFlow conversation with one bridge: handshake, sync, reconcile, keepalive, events.
///
/// Runs on the controller's queue only. It never wipes a bridge: it reads what sipspan's cookie marks
/// as installed and sends only the difference to the desired flow set, confirmed by one barrier.
final class SwitchSession: @unchecked Sendable {
    enum State: String { case awaitingHello = "hello", awaitingFeatures = "features", syncing, ready, closed }

    struct PendingChange {
        let started: UInt64
        let added: Int
        let removed: Int
        let reason: String
        /// The policy reload this change belongs to, if any.
        let reload: Int?
    }

    /// Bounds on what one peer can make sipspan hold: OVS numbers ports below 65,280, and a bridge
    /// carries at most a few thousand of sipspan's flows (the flow request filters by cookie).
    static let maximumPorts = 65_536
    static let maximumFlows = 100_000

    let serial: Int
    let connection: Connection
    unowned let controller: SipspanController
    private(set) var state = State.awaitingHello
    private(set) var datapathID: UInt64?
    private(set) var bridgeName = "?"
    private(set) var ports: [String: UInt32] = [:]
    private var portNames: [UInt32: String] = [:]
    private(set) var installed: [FlowKey: Flow] = [:]
    private(set) var macs = GuestMACTable()
    private(set) var plan: BridgePlan?
    private var nextXID: UInt32 = 1
    private var syncXIDs: (ports: UInt32, flows: UInt32) = (0, 0)
    private var syncPorts: [PortDescription]? = nil
    private var syncFlows: [FlowStats]? = nil
    private var pendingPorts: [PortDescription] = []
    private var pendingFlows: [FlowStats] = []
    private var pendingBarriers: [UInt32: PendingChange] = [:]
    private var auditing = false
    private var resyncRequested = false
    private var lastNotices: [String] = []
    private var packetIns: TokenBucket

    let connectedAt: UInt64
    private(set) var lastReceived: UInt64
    private var echoSentAt: UInt64?
    private(set) var lastAudit: UInt64
    /// When the first full flow set was barrier-confirmed (nil until then).
    private(set) var confirmedAt: UInt64?
    private(set) var flowModsSent = 0
    private(set) var changesApplied = 0

    var log: Logger { controller.logger }

    init(serial: Int, connection: Connection, controller: SipspanController) {
        self.serial = serial
        self.connection = connection
        self.controller = controller
        let now = monotonicNow()
        connectedAt = now; lastReceived = now; lastAudit = now
        packetIns = TokenBucket(perSecond: controller.options.packetInRate, burst: controller.options.packetInRate, now: now)
    }

    private var sinceAccept: String { milliseconds(from: connectedAt) }

    var dpidText: String { datapathID.map { hex16($0) } ?? "?" }

    private func xid() -> UInt32 {
        defer { nextXID = nextXID == UInt32.max ? 1 : nextXID + 1 }
        return nextXID
    }

    private func send(_ messages: [Message]) {
        var w = ByteWriter(capacity: 256 * messages.count)
        for m in messages { m.encode(xid: xid(), into: &w) }
        connection.send(w.bytes)
    }

    /// Sends HELLO and, pipelined behind it, every request the first sync needs (features, config,
    /// port list, sipspan's installed flows): one write, and one round trip through the switch
    /// instead of four. A switch processes them after version negotiation; a switch that cannot
    /// speak 1.3 is refused on its HELLO anyway.
    func start() {
        send([.hello(versions: [openFlow13Version]), .featuresRequest])
        requestSync(includePorts: true)
    }

    // MARK: input

    func received(_ frame: [UInt8]) {
        lastReceived = monotonicNow()
        echoSentAt = nil
        let header: OpenFlowHeader, message: Message
        do {
            (header, message) = try Message.decode(frame)
        } catch let e as OpenFlowDecodeError {
            refuse(e, frame: frame)
            return
        } catch {
            controller.closeSession(self, reason: "undecodable message: \(error)")
            return
        }
        switch (state, message) {
        case let (.awaitingHello, .hello(versions)):
            log.trace("hello received", metadata: ["peer": .string(connection.peer), "since_accept_ms": .string(sinceAccept)])
            negotiate(headerVersion: header.version, versions: versions, frame: frame)
        case (.awaitingHello, _):
            controller.closeSession(self, reason: "expected HELLO, got message type \(header.type)")
        case (_, .hello):
            break // a repeated HELLO is harmless
        case let (_, .echoRequest(data)):
            connection.send(Message.echoReply(data).encoded(xid: header.xid))
        case (_, .echoReply):
            break
        case let (.awaitingFeatures, .featuresReply(f)):
            featuresReceived(f)
        case let (_, .error(type, code, data)):
            switchError(type: type, code: code, data: data, xid: header.xid)
        case let (.awaitingFeatures, .multipartReply(reply, flags)), let (.syncing, .multipartReply(reply, flags)), let (.ready, .multipartReply(reply, flags)):
            multipart(reply, flags: flags, xid: header.xid)
        case (.ready, .barrierReply), (.syncing, .barrierReply):
            barrierReply(xid: header.xid)
        case let (.ready, .portStatus(reason, port)), let (.syncing, .portStatus(reason, port)):
            portStatus(reason, port)
        case let (.ready, .packetIn(p)):
            packetIn(p)
        default:
            break // anything else a switch may send (flow_removed, role replies, ...) needs no action
        }
    }

    private func refuse(_ e: OpenFlowDecodeError, frame: [UInt8]) {
        let type: UInt16, code: UInt16
        switch e {
        case .badVersion: (type, code) = (OpenFlowErrorCode.badRequest, 0)      // OFPBRC_BAD_VERSION
        case .unknownType: (type, code) = (OpenFlowErrorCode.badRequest, 1)     // OFPBRC_BAD_TYPE
        default: (type, code) = (OpenFlowErrorCode.badRequest, 6)               // OFPBRC_BAD_LEN
        }
        connection.send(Message.error(type: type, code: code, data: Array(frame.prefix(64))).encoded(xid: 0))
        controller.closeSession(self, reason: "malformed message: \(e)")
    }

    private func negotiate(headerVersion: UInt8, versions: Set<UInt8>, frame: [UInt8]) {
        let agreed = versions.isEmpty ? headerVersion >= openFlow13Version : versions.contains(openFlow13Version)
        guard agreed else {
            let offered = versions.isEmpty ? "version 0x\(String(headerVersion, radix: 16))" : "versions " + versions.sorted().map { "0x\(String($0, radix: 16))" }.joined(separator: ",")
            let text = Array("sipspan speaks OpenFlow 1.3 (0x04) only; peer offered \(offered)".utf8)
            connection.send(Message.error(type: OpenFlowErrorCode.helloFailed, code: OpenFlowErrorCode.helloFailedIncompatible, data: text).encoded(xid: 0))
            controller.closeSession(self, reason: "version negotiation failed: peer offered \(offered); set protocols=OpenFlow13 on the bridge")
            return
        }
        state = .awaitingFeatures
    }

    private func featuresReceived(_ f: SwitchFeatures) {
        guard f.auxiliaryID == 0 else {
            controller.closeSession(self, reason: "auxiliary connections are not used")
            return
        }
        datapathID = f.datapathID
        log.trace("features received", metadata: ["dpid": .string(dpidText), "since_accept_ms": .string(sinceAccept)])
        guard controller.register(self) else { return }
        state = .syncing
        completeSyncIfReady()
    }

    /// Asks for the port list (if wanted) and for every flow carrying sipspan's cookie.
    private func requestSync(includePorts: Bool) {
        var messages: [Message] = []
        let baseXID = nextXID
        if includePorts {
            syncPorts = nil; pendingPorts = []
            // Fragment handling "nx-match" (OVS's value 3): a first fragment shows its L4 ports, so a
            // fragmented SIP message is matched; later fragments are matched by ip_frag=later.
            messages.append(.setConfig(flags: 3, missSendLength: 128))
            messages.append(.multipartRequest(.portDesc, flags: 0))
        }
        syncFlows = nil; pendingFlows = []
        messages.append(.multipartRequest(.flow(table: 0xff, cookie: FlowCookie.prefix, cookieMask: FlowCookie.prefixMask, match: .any), flags: 0))
        send(messages)
        syncXIDs = (includePorts ? baseXID + 1 : syncXIDs.ports, nextXID - 1)
    }

    private func multipart(_ reply: MultipartReply, flags: UInt16, xid: UInt32) {
        let more = flags & multipartFlagMore != 0
        switch reply {
        case let .portDesc(list) where xid == syncXIDs.ports && syncPorts == nil:
            guard pendingPorts.count + list.count <= SwitchSession.maximumPorts else {
                controller.closeSession(self, reason: "port description reply too large"); return
            }
            pendingPorts += list
            if !more {
                // Adopt the snapshot at once: PORT_STATUS events that follow it apply on top of it.
                syncPorts = pendingPorts; pendingPorts = []
                setPorts(syncPorts ?? [])
            }
        case let .flow(stats) where xid == syncXIDs.flows && syncFlows == nil:
            guard pendingFlows.count + stats.count <= SwitchSession.maximumFlows else {
                controller.closeSession(self, reason: "flow stats reply too large"); return
            }
            pendingFlows += stats
            if !more { syncFlows = pendingFlows; pendingFlows = [] }
        default:
            return
        }
        completeSyncIfReady()
    }

    private func completeSyncIfReady() {
        if state == .syncing, syncPorts != nil, let f = syncFlows {
            log.trace("sync received", metadata: ["dpid": .string(dpidText), "since_accept_ms": .string(sinceAccept)])
            finishSync(f, reason: "connect")
            state = .ready
            controller.bridgeReady(self)
            let name = bridgeName
            log.info("bridge connected", metadata: [
                "dpid": .string(dpidText), "bridge": .string(name), "peer": .string(connection.peer),
                "ports": .stringConvertible(ports.count), "installed": .stringConvertible(f.count),
            ])
        } else if state == .ready, auditing, let f = syncFlows {
            auditing = false
            finishSync(f, reason: "audit")
        }
    }

    private func setPorts(_ list: [PortDescription]) {
        ports = [:]; portNames = [:]
        for p in list {
            if p.portNumber == PortNumber.local { bridgeName = p.name; continue }
            guard p.portNumber <= PortNumber.max else { continue }
            ports[p.name] = p.portNumber
            portNames[p.portNumber] = p.name
        }
    }

    /// Adopts what the switch reports as installed, recovers learned MACs from it, then reconciles.
    private func finishSync(_ flows: [FlowStats], reason: String) {
        installed = [:]
        for s in flows where FlowCookie.isOurs(s.cookie) {
            let f = Flow(stats: s)
            installed[f.key] = f
            // Guest MACs survive a sipspan restart in the learning flows it installed.
            if s.cookie == FlowCookie.cookie(.learning), s.priority == FlowPriority.learnKnown,
               let inPort = s.match.inPort, let mac = s.match.ethSrc, let name = portNames[inPort], !macs.macs(of: name).contains(mac) {
                macs.learn(mac, on: name)
            }
        }
        lastAudit = monotonicNow()
        reconcile(reason: reason)
    }

    // MARK: reconcile

    /// Recomputes the desired flows and sends the difference, confirmed by one barrier.
    /// Returns the number of flows added and removed (both 0 when the bridge was already right).
    @discardableResult
    func reconcile(reason: String, reload: Int? = nil) -> (added: Int, removed: Int) {
        guard state == .ready || state == .syncing else { return (0, 0) }
        let newPlan = controller.options.planner.plan(policy: controller.policy, ports: ports, macs: macs)
        plan = newPlan
        if newPlan.notices != lastNotices {
            for n in newPlan.notices where !lastNotices.contains(n) {
                log.warning("bridge has watched NICs but no monitor", metadata: ["dpid": .string(dpidText), "bridge": .string(bridgeName), "detail": .string(n)])
            }
            lastNotices = newPlan.notices
        }
        let diff = FlowDiff(installed: Array(installed.values), desired: newPlan.flows)
        if diff.isEmpty {
            confirmIfFirst(now: monotonicNow())
            return (0, 0)
        }
        if log.logLevel <= .debug {
            for f in diff.deletes { log.debug("flow removed", metadata: ["bridge": .string(bridgeName), "flow": .string(f.description)]) }
            for f in diff.adds { log.debug("flow added", metadata: ["bridge": .string(bridgeName), "flow": .string(f.description)]) }
        }
        var messages = diff.flowMods.map { Message.flowMod($0) }
        messages.append(.barrierRequest)
        let barrierXID = nextXID &+ UInt32(messages.count - 1)
        send(messages)
        flowModsSent += messages.count - 1
        controller.metrics.flowModsSent.increment(by: Int64(messages.count - 1))
        for f in diff.deletes { installed[f.key] = nil }
        for f in diff.adds { installed[f.key] = f }
        pendingBarriers[barrierXID] = PendingChange(started: monotonicNow(), added: diff.adds.count, removed: diff.deletes.count, reason: reason, reload: reload)
        return (diff.adds.count, diff.deletes.count)
    }

    /// Records (once) the moment the bridge first holds its complete flow set: nothing is in flight.
    private func confirmIfFirst(now: UInt64) {
        guard confirmedAt == nil && pendingBarriers.isEmpty else { return }
        confirmedAt = now
        controller.bridgeConfirmed(self)
    }

    /// Reloads whose barriers this session still owes.
    var pendingReloads: [Int] { pendingBarriers.values.compactMap(\.reload) }

    private func barrierReply(xid: UInt32) {
        guard let change = pendingBarriers.removeValue(forKey: xid) else { return }
        let now = monotonicNow()
        changesApplied += 1
        controller.metrics.changesApplied.increment()
        controller.metrics.changeSeconds.record(Double(now - change.started) / 1e9)
        confirmIfFirst(now: now)
        if let reload = change.reload { controller.reloadConfirmed(reload, by: self) }
        log.info("flows applied", metadata: [
            "dpid": .string(dpidText), "bridge": .string(bridgeName), "reason": .string(change.reason),
            "added": .stringConvertible(change.added), "removed": .stringConvertible(change.removed),
            "ms": .string(milliseconds(from: change.started, to: now)),
        ])
        if resyncRequested && pendingBarriers.isEmpty && !auditing {
            resyncRequested = false
            audit()
        }
    }

    /// Re-reads sipspan's flows from the switch and repairs any drift.
    func audit() {
        guard state == .ready, !auditing else { return }
        auditing = true
        requestSync(includePorts: false)
    }

    private func switchError(type: UInt16, code: UInt16, data: [UInt8], xid: UInt32) {
        controller.metrics.switchErrors.increment()
        controller.limitedLog("switch error", key: "switch-error-\(dpidText)", level: .warning, metadata: [
            "dpid": .string(dpidText), "bridge": .string(bridgeName), "error": .string(OpenFlowErrorCode.describe(type: type, code: code)),
            "xid": .stringConvertible(xid),
        ])
        if state == .ready || state == .syncing {
            // What we believe is installed may be wrong now: read it back after the current barrier.
            resyncRequested = true
        }
    }

    // MARK: events

    private func portStatus(_ reason: PortStatusReason, _ port: PortDescription) {
        if port.portNumber == PortNumber.local { if reason != .delete { bridgeName = port.name }; return }
        guard port.portNumber <= PortNumber.max else { return }
        switch reason {
        case .add, .modify:
            guard ports[port.name] != nil || ports.count < SwitchSession.maximumPorts else {
                controller.closeSession(self, reason: "more than \(SwitchSession.maximumPorts) ports announced")
                return
            }
            if let oldNumber = ports[port.name], oldNumber != port.portNumber { portNames[oldNumber] = nil }
            if let oldName = portNames[port.portNumber], oldName != port.name { ports[oldName] = nil; macs.forget(port: oldName) }
            ports[port.name] = port.portNumber
            portNames[port.portNumber] = port.name
        case .delete:
            if ports[port.name] == port.portNumber { ports[port.name] = nil }
            portNames[port.portNumber] = nil
            macs.forget(port: port.name)
        }
        log.trace("port status", metadata: ["dpid": .string(dpidText), "port": .string(port.name), "ofport": .stringConvertible(port.portNumber), "reason": .string("\(reason)")])
        if state == .ready { scheduleReconcile(reason: "port \(port.name) \(reason)") }
    }

    private var reconcileScheduled: String? = nil

    /// Reconciles once after every message already read has been handled: a burst of events (a node
    /// starting many VMs, a stream of learned MACs) costs one plan and one barrier, not one per event.
    private func scheduleReconcile(reason: String) {
        if let pending = reconcileScheduled {
            if !pending.hasSuffix("…") { reconcileScheduled = pending + " …" }
            return
        }
        reconcileScheduled = reason
        controller.queue.async { [weak self] in
            guard let self, let why = self.reconcileScheduled else { return }
            self.reconcileScheduled = nil
            if self.state == .ready { self.reconcile(reason: why) }
        }
    }

    private func packetIn(_ p: PacketIn) {
        guard p.cookie == FlowCookie.cookie(.learning), let inPort = p.inPort, let name = portNames[inPort],
              let plan, plan.learningPorts.contains(inPort), let mac = p.ethernetSource else { return }
        guard packetIns.take(now: monotonicNow()) else { return }
        if macs.learn(mac, on: name) {
            controller.metrics.macsLearned.increment()
            log.info("guest MAC learned", metadata: ["dpid": .string(dpidText), "bridge": .string(bridgeName), "port": .string(name), "mac": .string(mac.description)])
            scheduleReconcile(reason: "MAC \(mac) on \(name)")
        }
    }

    // MARK: timers

    /// Keepalive and timeouts; called about once a second.
    func tick(now: UInt64) {
        let o = controller.options
        let idle = Double(now &- lastReceived) / 1e9
        if state == .awaitingHello || state == .awaitingFeatures {
            if Double(now &- connectedAt) / 1e9 > o.handshakeTimeout {
                controller.closeSession(self, reason: "handshake not completed within \(Int(o.handshakeTimeout)) s")
            }
            return
        }
        if idle > o.deadPeerTimeout {
            controller.closeSession(self, reason: "no message for \(Int(idle)) s (dead peer)")
            return
        }
        if idle > o.echoInterval && echoSentAt == nil {
            echoSentAt = now
            send([.echoRequest([])])
        }
        if o.auditInterval > 0, state == .ready, pendingBarriers.isEmpty, Double(now &- lastAudit) / 1e9 > o.auditInterval {
            lastAudit = now
            audit()
        }
    }

    func closed() {
        state = .closed
    }
}

func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
