#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FlowPlanning
import Foundation
import Logging
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol

/// The controller: listeners, one session per bridge connection, the policy in force.
///
/// Everything runs on one serial queue; sockets are Dispatch sources on it, so no state is shared
/// across threads. Public methods may be called from any thread: they hop onto the queue.
public final class SipspanController: @unchecked Sendable {
    public let logger: Logger
    public let options: ControllerOptions
    /// Prometheus metrics, updated on the controller's queue.
    public let metrics = ControllerMetrics()
    let queue = DispatchQueue(label: "sipspan.controller")
    /// The policy files' sessions as written (`tag:` and `pool:` unresolved).
    private(set) var writtenPolicy: PolicySet
    /// What Proxmox knows (empty without `--pve`).
    private(set) var inventory: Inventory
    /// The policy in force: `writtenPolicy` with tags and pools resolved against `inventory`.
    private(set) var policy: PolicySet
    /// Warnings about the policy against the cluster, as last logged.
    private(set) var warnings: [Diagnostic] = []
    private var listeners: [Listener] = []
    private var sessions: [Int: BridgeConnection] = [:]
    private var byDatapath: [UInt64: BridgeConnection] = [:]
    private var nextSerial = 1
    private var timer: DispatchSourceTimer?
    private var logLimiter = LogLimiter()
    private var reloads: [Int: PolicyReload] = [:]
    private var nextReload = 1
    private let started = monotonicNow()

    public init(policy: PolicySet, inventory: Inventory = .empty, options: ControllerOptions = ControllerOptions(), logger: Logger) {
        self.writtenPolicy = policy
        self.inventory = inventory
        self.policy = policy.resolved(with: inventory.groups)
        self.options = options
        self.logger = logger
    }

    /// Starts listening on every "[tcp:|ssl:]HOST:PORT"; `ssl:` needs `tls`. Returns the bound addresses.
    @discardableResult
    public func start(listen addresses: [String], tls: TLSConfiguration? = nil) throws -> [String] {
        // A write to a peer that reset must fail with EPIPE, not kill the process: OpenSSL writes to
        // its sockets without MSG_NOSIGNAL.
        signal(SIGPIPE, SIG_IGN)
        return try queue.sync {
            var tlsContext: TLSContext? = nil
            for a in addresses {
                guard let listen = ListenAddress(a) else {
                    throw SystemCallError(call: "invalid listen address '\(a)' (expected [tcp:|ssl:]HOST:PORT or unix:/PATH)", errno: 0)
                }
                var context: TLSContext? = nil
                if case .ssl = listen {
                    if tlsContext == nil {
                        guard let tls else { throw TLSError(description: "\(listen) needs --tls-key, --tls-cert and --tls-ca") }
                        tlsContext = try TLSContext(tls)
                    }
                    context = tlsContext
                }
                let l = try Listener(listen, queue: queue) { [unowned self] fd, peer in
                    if let context {
                        do {
                            self.accepted(try TLSTransport(fd: fd, context: context), peer: peer)
                        } catch {
                            self.limitedLog("TLS setup failed", key: .tlsSetupFailed, level: .error, metadata: ["peer": .string(peer), "error": .string("\(error)")])
                            _ = Glibc.close(fd)
                        }
                    } else {
                        self.accepted(TCPTransport(fd: fd), peer: peer)
                    }
                }
                l.onPause = { [unowned self] error, seconds in
                    self.limitedLog("accept paused: out of file descriptors", key: .acceptFailed, level: .error, metadata: [
                        "error": .string(String(cString: strerror(error))), "pause_s": .stringConvertible(seconds),
                        "connections": .stringConvertible(self.sessions.count),
                    ])
                }
                listeners.append(l)
                if case .ssl = listen { logger.info("listening", metadata: ["address": .string("ssl:" + l.address)]) }
                else { logger.info("listening", metadata: ["address": .string(l.address)]) }
            }
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(100))
            t.setEventHandler { [unowned self] in self.tick() }
            t.resume()
            timer = t
            return listeners.map(\.address)
        }
    }

    /// The ports the listeners are bound to (for `--listen 127.0.0.1:0`).
    public var listeningPorts: [UInt16] { queue.sync { listeners.map(\.port) } }

    private func accepted(_ transport: Transport, peer: String) {
        guard sessions.count < options.maximumConnections else {
            limitedLog("connection refused: too many connections", key: .tooManyConnections, level: .warning, metadata: [
                "peer": .string(peer), "limit": .stringConvertible(options.maximumConnections),
            ])
            transport.close()
            return
        }
        let connection = Connection(transport: transport, peer: peer, queue: queue)
        let serial = nextSerial
        nextSerial += 1
        let session = BridgeConnection(serial: serial, connection: connection, controller: self)
        sessions[serial] = session
        connection.onFrame = { [unowned session] frame in session.feed(.frame(frame)) }
        connection.onClose = { [unowned self, unowned session] reason in self.connectionClosed(session, reason: reason) }
        connection.start()
        session.feed(.connected)
    }

    /// What every session plans with.
    var planningContext: PlanningContext { PlanningContext(policy: policy, inventory: inventory, planner: options.planner) }

    /// Records which connection serves datapath `dpid`. An established connection that answers keeps
    /// it: the newcomer is refused (`DatapathClaim`). One that left an echo unanswered gives way.
    func claim(_ dpid: UInt64, by session: BridgeConnection) {
        let now = monotonicNow()
        if let bound = options.datapathCertificates[dpid], session.connection.peerCommonName != bound {
            metrics.claimsRefused.increment()
            let presented = session.connection.peerCommonName.map { "certificate '\($0)'" } ?? "no certificate"
            limitedLog("datapath bound to another certificate; connection refused", key: .datapathClaimRefused(dpid), level: .warning, metadata: [
                "dpid": .string(hex16(dpid)), "peer": .string(session.connection.peer), "presented": .string(presented), "bound_to": .string(bound),
            ])
            closeSession(session, reason: CloseReason(.datapathInUse, "datapath \(hex16(dpid)) is bound to certificate '\(bound)'; the peer presented \(presented)"))
            return
        }
        if let old = byDatapath[dpid], old !== session {
            switch DatapathClaim.decide(echoOutstandingSince: old.session.echoSentAt, now: now, configuration: options.session) {
            case .keepIncumbent:
                metrics.claimsRefused.increment()
                limitedLog("datapath already served by a live connection; newcomer refused", key: .datapathClaimRefused(dpid), level: .warning, metadata: [
                    "dpid": .string(hex16(dpid)), "serving_peer": .string(old.connection.peer), "refused_peer": .string(session.connection.peer),
                ])
                closeSession(session, reason: CloseReason(.datapathInUse, "datapath \(hex16(dpid)) is served by \(old.connection.peer), which still answers"))
                return
            case .replaceIncumbent:
                logger.warning("connection for datapath went silent; the new one takes over", metadata: [
                    "dpid": .string(hex16(dpid)), "old_peer": .string(old.connection.peer), "new_peer": .string(session.connection.peer),
                ])
                byDatapath[dpid] = session
                closeSession(old, reason: CloseReason(.replaced, "silent; replaced by a new connection from \(session.connection.peer)"))
                return
            }
        }
        byDatapath[dpid] = session
    }

    func closeSession(_ session: BridgeConnection, reason: CloseReason) {
        session.connection.close(reason)
    }

    private func connectionClosed(_ bridge: BridgeConnection, reason: CloseReason) {
        let session = bridge.session
        // A connection that held its datapath was a bridge being served; any other was a peer that never got that far.
        let wasReady = session.datapathID.map { byDatapath[$0] === bridge } ?? false
        bridge.markClosed()
        sessions[bridge.serial] = nil
        if let dpid = session.datapathID, byDatapath[dpid] === bridge { byDatapath[dpid] = nil }
        // A reload waiting on this bridge's barrier completes without it; the bridge gets the
        // current policy when it reconnects.
        for id in Set(session.pendingReloads) where reloads[id] != nil {
            reloads[id]?.pending.remove(bridge.serial)
            reloads[id]?.lost += 1
            finishReloadIfDone(id)
        }
        if wasReady {
            updateWarnings()
            metrics.disconnects.increment()
            metrics.bridgesConnected.set(Int64(readyBridges))
            logger.info("bridge disconnected", metadata: [
                "dpid": .string(session.dpidText), "bridge": .string(displayName(of: bridge)), "peer": .string(bridge.connection.peer),
                "reason": .string(reason.description),
            ])
        } else {
            if reason.isPeerFault { metrics.badPeers.increment() }
            limitedLog("connection closed", key: .connectionClosed(reason.kind), level: .notice, metadata: [
                "peer": .string(bridge.connection.peer), "reason": .string(reason.description),
            ])
        }
    }

    /// Connections serving a bridge (past their first sync), in serial order.
    var readyConnections: [BridgeConnection] {
        byDatapath.values.filter { $0.session.state == .ready }.sorted { $0.serial < $1.serial }
    }

    /// Bridges past their handshake and first sync.
    var readyBridges: Int { byDatapath.values.filter { $0.session.state == .ready }.count }

    func bridgeReady(_ session: BridgeConnection) {
        metrics.connects.increment()
        metrics.bridgesConnected.set(Int64(readyBridges))
        updateWarnings()
    }

    func bridgeConfirmed(_ bridge: BridgeConnection) {
        let session = bridge.session
        guard let at = session.confirmedAt else { return }
        logger.info("bridge confirmed", metadata: [
            "dpid": .string(session.dpidText), "bridge": .string(displayName(of: bridge)), "flows": .stringConvertible(session.installed.count),
            "flow_mods": .stringConvertible(session.flowModsSent),
            "connect_to_confirmed_ms": .string(milliseconds(from: session.connectedAt, to: at)),
        ])
    }

    func limitedLog(_ message: Logger.Message, key: LogLimitKey, level: Logger.Level, metadata: Logger.Metadata) {
        let (ok, suppressed) = logLimiter.allow(key, now: monotonicNow())
        guard ok else { return }
        var m = metadata
        if suppressed > 0 { m["suppressed"] = .stringConvertible(suppressed) }
        logger.log(level: level, message, metadata: m)
    }

    private func tick() {
        let now = monotonicNow()
        for s in Array(sessions.values) { s.feed(.tick, now: now) }
    }

    /// Puts a new policy in force and reconciles every connected bridge; logs one line when every
    /// touched bridge has confirmed (files, flows added/removed, bridges, ms since `detectedAt`).
    public func apply(policy newPolicy: PolicySet, reason: String, detectedAt: UInt64 = monotonicNow()) {
        queue.async { [self] in
            guard newPolicy != writtenPolicy else { return }
            writtenPolicy = newPolicy
            replan(.policy, reason: reason, detectedAt: detectedAt)
        }
    }

    /// Puts a new view of the cluster in force (guest MACs, tags, pools): every bridge is replanned.
    public func apply(inventory newInventory: Inventory, reason: String, detectedAt: UInt64 = monotonicNow()) {
        queue.async { [self] in
            guard newInventory != inventory else { return }
            inventory = newInventory
            replan(.inventory, reason: reason, detectedAt: detectedAt)
        }
    }

    private func replan(_ kind: PolicyReload.Kind, reason: String, detectedAt: UInt64) {
        policy = writtenPolicy.resolved(with: inventory.groups)
        updateWarnings()
        let id = nextReload
        nextReload += 1
        var reload = PolicyReload(kind: kind, reason: reason, detectedAt: detectedAt)
        for s in byDatapath.values.sorted(by: { $0.serial < $1.serial }) {
            let (added, removed) = s.planChanged(reload: id)
            guard added + removed > 0 else { continue }
            reload.added += added; reload.removed += removed
            reload.pending.insert(s.serial)
            reload.bridges += 1
        }
        reloads[id] = reload
        finishReloadIfDone(id)
    }

    /// Logs the warnings about the policy in force against the cluster (at start).
    public func logWarnings() { queue.async { self.updateWarnings() } }

    /// Recomputes the operator's warnings (policy against the cluster) and logs each new one once.
    func updateWarnings() {
        guard !inventory.guests.isEmpty || !inventory.nodes.isEmpty else { warnings = []; return }
        var bridgesByNode: [String: Set<String>] = [:]
        for b in byDatapath.values where b.session.state == .ready {
            if let node = node(of: b) { bridgesByNode[node, default: []].insert(b.bridgeName) }
        }
        let fresh = InventoryWarnings.compute(policy: writtenPolicy, inventory: inventory, monitorVLAN: options.planner.monitorVLAN,
                                              ovsBridges: bridgesByNode.isEmpty ? nil : .perNode(bridgesByNode))
        for w in fresh where !warnings.contains(w) {
            logger.warning("\(w.message)", metadata: ["where": .string(w.location.description)])
        }
        warnings = fresh
    }

    /// The Proxmox node a bridge connection comes from: its peer address in `.members`, or this
    /// node for a local (unix socket or loopback) connection.
    func node(of bridge: BridgeConnection) -> String? {
        let peer = bridge.connection.peer
        let host: String
        if peer.hasPrefix("[") { host = String(peer.dropFirst().prefix { $0 != "]" }) } else { host = String(peer.split(separator: ":").first ?? "") }
        if let n = inventory.node(forAddress: host) { return n }
        if host == "127.0.0.1" || host == "::1" || peer.hasPrefix("unix") { return inventory.localNode }
        return nil
    }

    /// Copy counters per guest label (`101 (sip-proxy-1)`), or per port name for non-Proxmox ports.
    func copiedFrames(_ s: SwitchSession) -> [String: Int] {
        var out: [String: Int] = [:]
        for (port, count) in s.copiedFrames {
            out[ProxmoxPortName(port).map { inventory.label($0.vm) } ?? port, default: 0] += count
        }
        return out
    }

    /// Guests behind Proxmox port names, as `101 (sip-proxy-1)`, without repeats.
    func guestLabels(_ ports: [String]) -> [String] {
        var seen = Set<UInt32>(), out: [String] = []
        for p in ports { if let parsed = ProxmoxPortName(p), seen.insert(parsed.vm).inserted { out.append(inventory.label(parsed.vm)) } }
        return out
    }

    /// `node/bridge` when the node is known, else the bridge's name.
    func displayName(of bridge: BridgeConnection) -> String {
        node(of: bridge).map { "\($0)/\(bridge.bridgeName)" } ?? bridge.bridgeName
    }

    func reloadConfirmed(_ id: Int, by session: BridgeConnection) {
        reloads[id]?.pending.remove(session.serial)
        finishReloadIfDone(id)
    }

    private func finishReloadIfDone(_ id: Int) {
        guard let r = reloads[id], r.pending.isEmpty else { return }
        reloads[id] = nil
        logger.info(r.kind == .policy ? "policy applied" : "inventory applied", metadata: [
            "change": .string(r.reason), "added": .stringConvertible(r.added), "removed": .stringConvertible(r.removed),
            "bridges": .stringConvertible(r.bridges), "connected": .stringConvertible(byDatapath.count), "unconfirmed": .stringConvertible(r.lost),
            "ms": .string(milliseconds(from: r.detectedAt, to: monotonicNow(), digits: 1)),
        ])
    }

    static let stoppingReason = CloseReason(.stopping, "sipspan is stopping")

    /// Stops listening and closes every connection. Installed flows stay in the switches.
    public func stop() {
        queue.sync {
            timer?.cancel(); timer = nil
            for l in listeners { l.stop() }
            listeners = []
            for s in Array(sessions.values) { s.connection.close(SipspanController.stoppingReason) }
        }
    }

    /// The Prometheus text: the registered metrics, then the per-bridge and per-guest series.
    public func metricsExposition() -> [UInt8] { metrics.exposition() + BridgeMetrics.exposition(status()) }

    /// A snapshot of every bridge, for `sipspan status` and metrics.
    public func status() -> ControllerStatus {
        queue.sync {
            let now = monotonicNow()
            let bridges = sessions.values.sorted { ($0.session.datapathID ?? 0, $0.serial) < ($1.session.datapathID ?? 0, $1.serial) }.map { b in
                let s = b.session
                return BridgeStatus(datapathID: s.datapathID.map(hex16), bridge: s.bridgeName, node: node(of: b), peer: b.connection.peer, state: s.state.rawValue,
                                    connectedSeconds: seconds(from: s.connectedAt, to: now), ports: s.ports.count, flows: s.installed.count,
                                    watchedPorts: s.plan?.watchedPorts ?? [], monitorPorts: s.plan?.monitorPorts ?? [],
                                    watchedGuests: guestLabels(s.plan?.watchedPorts ?? []),
                                    copiedFrames: copiedFrames(s),
                                    learnedMACs: s.macs.count, flowModsSent: s.flowModsSent,
                                    notices: (s.plan?.notices ?? []) + s.conflicts.map { "not installed, an operator's flow holds its place: \($0)" })
            }
            return ControllerStatus(uptimeSeconds: seconds(from: started, to: now), sessions: policy.sessions.map(\.name), bridges: bridges,
                                    warnings: warnings.map(\.description), inventoryGuests: inventory.guests.count)
        }
    }
}

/// A policy change being applied: which bridges still owe a barrier reply.
struct PolicyReload {
    enum Kind { case policy, inventory }
    let kind: Kind
    let reason: String
    let detectedAt: UInt64
    var pending = Set<Int>()
    var added = 0, removed = 0, bridges = 0, lost = 0
}

/// One bridge as `sipspan status` shows it.
public struct BridgeStatus: Codable, Sendable {
    public let datapathID: String?
    public let bridge: String
    /// The Proxmox node the bridge belongs to (from its peer address and `.members`), if known.
    public let node: String?
    public let peer: String
    public let state: String
    public let connectedSeconds: Double
    public let ports: Int
    public let flows: Int
    public let watchedPorts: [String]
    public let monitorPorts: [String]
    /// Watched guests as `101 (sip-proxy-1)`.
    public let watchedGuests: [String]
    /// Frames copied per watched guest (`101 (sip-proxy-1)`), from the flow counters of the last sync or audit.
    public let copiedFrames: [String: Int]
    public let learnedMACs: Int
    public let flowModsSent: Int
    public let notices: [String]
}

/// The whole controller as `sipspan status` shows it.
public struct ControllerStatus: Codable, Sendable {
    public let uptimeSeconds: Double
    public let sessions: [String]
    public let bridges: [BridgeStatus]
    /// Warnings about the policy against the cluster (`FILE:LINE:COLUMN: warning: …`).
    public let warnings: [String]
    /// Guests in the Proxmox inventory (0 without one).
    public let inventoryGuests: Int
}
