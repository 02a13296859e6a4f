import FlowPlanning
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol

/// The controller's decisions as a value-type state machine: every entry point takes `now` (monotonic
/// nanoseconds) and returns the actions the runtime must carry out, in order.
///
/// Pure: no sockets, no Dispatch, no clock reads. It owns the connections (each with its
/// `SwitchSession`), which connection serves which datapath id, the policy as written and as resolved
/// against the inventory, the inventory itself, the reloads in flight and the warnings. The runtime
/// (`SipspanController`) moves bytes and timers and executes the returned actions.
public struct ControllerCore: Sendable {
    public let options: ControllerOptions
    /// The policy files' sessions as written (`tag:` and `pool:` unresolved).
    public internal(set) var writtenPolicy: PolicySet
    /// What Proxmox knows (empty without `--pve`).
    public internal(set) var inventory: Inventory
    /// The policy in force: `writtenPolicy` with tags and pools resolved against `inventory`.
    public internal(set) var policy: PolicySet
    /// Warnings about the policy against the cluster, as last logged.
    public internal(set) var warnings: [Diagnostic] = []
    /// Emit debug lines per flow change and per call's media copies (sessions created from now on).
    public var logFlowChanges = false
    /// This instance's OpenFlow role on every bridge (`.equal` unless run as primary or standby).
    public internal(set) var role: ControllerRole
    /// Wall-clock milliseconds minus monotonic milliseconds, from start: role requests carry the
    /// wall-clock time they are made as generation id, so the latest request wins across instances.
    let wallClockOffset: Int64

    /// What every counter action added up to since start (also in `status`).
    public internal(set) var totals: [ControllerCounter: Int] = [:]
    /// Where the runtime listens for switches, and its status endpoints (bound addresses).
    public internal(set) var listening: [String] = []
    public internal(set) var statusEndpoints: [String] = []

    var connections: [ConnectionID: BridgeConnectionState] = [:]
    var byDatapath: [UInt64: ConnectionID] = [:]
    var nextConnection = 1
    var reloads: [Int: PolicyReload] = [:]
    var nextReload = 1
    var logLimiter = LogLimiter()
    /// Problems of the inventory files as last logged (each is logged once).
    var inventoryProblems: Set<Diagnostic>
    let startedAt: UInt64
    /// Where the inventory is read from (`--pve`), nil without one.
    let pveRoot: String?
    /// Whether pmxcfs was mounted at the last check, and since when.
    var pmxcfs: PmxcfsState
    var pmxcfsSince: UInt64
    /// When the inventory was last read from a mounted pmxcfs.
    var inventoryReadAt: UInt64?

    public static let stoppingReason = CloseReason(.stopping, "sipspan is stopping")

    /// `pveRoot` and `pveFiles`: where the inventory was read at start and the files found there.
    public init(policy: PolicySet, inventory: Inventory = .empty, inventoryProblems: Set<Diagnostic> = [],
                pveRoot: String? = nil, pveFiles: [String: [UInt8]] = [:], options: ControllerOptions = ControllerOptions(),
                role: ControllerRole = .equal, wallClockMilliseconds: UInt64 = 0, now: UInt64) {
        self.role = role
        wallClockOffset = Int64(clamping: wallClockMilliseconds) - Int64(clamping: now / 1_000_000)
        self.pveRoot = pveRoot
        pmxcfs = pveRoot.map { PmxcfsState.of(files: pveFiles, root: $0) } ?? .mounted
        pmxcfsSince = now
        inventoryReadAt = pveRoot != nil && pmxcfs.isMounted ? now : nil
        writtenPolicy = policy
        self.inventory = inventory
        self.policy = policy.resolved(with: inventory.groups)
        self.inventoryProblems = inventoryProblems
        self.options = options
        startedAt = now
    }

    /// What every session plans with.
    public func planningContext(now: UInt64) -> PlanningContext {
        var c = PlanningContext(policy: policy, inventory: inventory, planner: options.planner)
        c.role = role
        c.generationID = UInt64(clamping: wallClockOffset + Int64(clamping: now / 1_000_000))
        return c
    }

    /// Takes another role on every bridge (a standby taking over, or handing back): each session
    /// requests it with a new generation id (wall-clock milliseconds, so the latest request wins) and,
    /// as master, sends what its bridge lacks.
    public mutating func setRole(_ newRole: ControllerRole, reason: String, now: UInt64) -> [ControllerAction] {
        guard newRole != role else { return [] }
        role = newRole
        var out: [ControllerAction] = [.log(LogLine(newRole == .master ? .warning : .info, "role changed", [
            "role": "\(newRole)", "generation_id": String(planningContext(now: now).generationID), "reason": reason,
        ]))]
        for id in byDatapath.values.sorted() { out += feed(id, .roleChanged, now: now) }
        return tallied(out)
    }

    /// Connections held (bridges and peers still in their handshake).
    public var connectionCount: Int { connections.count }

    /// The session of a connection (nil once it is closed).
    public func session(_ id: ConnectionID) -> SwitchSession? { connections[id]?.session }

    /// The connection serving a datapath id.
    public func connection(serving dpid: UInt64) -> ConnectionID? { byDatapath[dpid] }

    // MARK: connections

    /// A peer connected. Returns its id, or nil (and why, logged) when it must be closed at once.
    public mutating func accept(peer: PeerAddress, now: UInt64) -> (ConnectionID?, [ControllerAction]) {
        guard connections.count < options.maximumConnections else {
            let log = limitedLog(.warning, "connection refused: too many connections", key: .tooManyConnections, now: now,
                                 ["peer": peer.description, "limit": String(options.maximumConnections)])
            return (nil, tallied(log))
        }
        let id = ConnectionID(nextConnection)
        nextConnection += 1
        var session = SwitchSession(configuration: options.session, now: now)
        session.logFlowChanges = logFlowChanges
        connections[id] = BridgeConnectionState(id: id, peer: peer, session: session)
        return (id, [])
    }

    /// The TLS handshake of a connection completed with a verified certificate of this common name.
    public mutating func certificateVerified(_ id: ConnectionID, commonName: String?) {
        connections[id]?.certificateName = commonName
    }

    /// Feeds one input to a connection's session and turns what it returns into actions.
    public mutating func handle(_ id: ConnectionID, _ input: SessionInput, now: UInt64) -> [ControllerAction] {
        tallied(feed(id, input, now: now))
    }

    mutating func feed(_ id: ConnectionID, _ input: SessionInput, now: UInt64) -> [ControllerAction] {
        let context = planningContext(now: now)
        // In place: a copy of the session would copy its port and flow tables on every message.
        guard let actions = connections[id]?.session.handle(input, now: now, context: context) else { return [] }
        return translate(actions, of: id, now: now)
    }

    /// About once a second: every session's keepalive, timeouts and audits.
    public mutating func tick(now: UInt64) -> [ControllerAction] {
        tallied(connections.keys.sorted().flatMap { feed($0, .tick, now: now) })
    }

    /// A connection closed (for any reason, `reason` says which): forget it, give up its datapath,
    /// and complete the reloads that waited for its barrier without it.
    public mutating func closed(_ id: ConnectionID, reason: CloseReason, now: UInt64) -> [ControllerAction] {
        tallied(forget(id, reason: reason, now: now))
    }

    mutating func forget(_ id: ConnectionID, reason: CloseReason, now: UInt64) -> [ControllerAction] {
        guard var c = connections.removeValue(forKey: id) else { return [] }
        let owed = Set(c.session.pendingReloads)
        c.session.closed()
        var out: [ControllerAction] = []
        // A connection that held its datapath was a bridge being served; any other was a peer that never got that far.
        let served = c.session.datapathID.map { byDatapath[$0] == id } ?? false
        if let dpid = c.session.datapathID, served { byDatapath[dpid] = nil }
        // The bridge gets the current policy when it reconnects.
        for reload in owed where reloads[reload] != nil {
            reloads[reload]?.pending.remove(id)
            reloads[reload]?.lost += 1
            out += finishReloadIfDone(reload, now: now)
        }
        if served {
            out += updateWarnings()
            out.append(.count(.disconnects, by: 1))
            out.append(.bridgesConnected(readyBridgeCount))
            out.append(.log(LogLine(.info, "bridge disconnected", [
                "dpid": c.session.dpidText, "bridge": displayName(c), "peer": c.peer.description, "reason": reason.description,
            ])))
        } else {
            if reason.isPeerFault { out.append(.count(.badPeers, by: 1)) }
            out += limitedLog(.notice, "connection closed", key: .connectionClosed(reason.kind), now: now,
                              ["peer": c.peer.description, "reason": reason.description])
        }
        return out
    }

    /// Closes every connection (sipspan is stopping). Installed flows stay in the switches.
    public func stop() -> [ControllerAction] {
        connections.keys.sorted().map { .close($0, ControllerCore.stoppingReason) }
    }

    /// Accepting paused because the process ran out of file descriptors.
    public mutating func acceptPaused(error: String, seconds: Double, now: UInt64) -> [ControllerAction] {
        limitedLog(.error, "accept paused: out of file descriptors", key: .acceptFailed, now: now,
                   ["error": error, "pause_s": String(seconds), "connections": String(connections.count)])
    }

    /// A TLS connection could not be set up (the runtime closed it).
    public mutating func tlsSetupFailed(peer: PeerAddress, error: String, now: UInt64) -> [ControllerAction] {
        limitedLog(.error, "TLS setup failed", key: .tlsSetupFailed, now: now, ["peer": peer.description, "error": error])
    }

    // MARK: the session's actions

    mutating func translate(_ actions: [SessionAction], of id: ConnectionID, now: UInt64) -> [ControllerAction] {
        var out: [ControllerAction] = []
        for action in actions {
            guard let c = connections[id] else { break }
            switch action {
            case let .send(messages):
                let flowMods = messages.reduce(0) { n, m in
                    switch m.message { case .flowMod, .bundleAdd: return n + 1; default: return n }
                }
                if flowMods > 0 { out.append(.count(.flowModsSent, by: flowMods)) }
                out.append(.send(id, messages))
            case let .close(reason):
                out.append(.close(id, reason))
                return out
            case let .log(line):
                var fields = line.fields
                fields["peer"] = c.peer.description
                if fields["bridge"] != nil { fields["bridge"] = displayName(c) }
                out.append(.log(LogLine(line.level, line.message, fields)))
            case let .claimDatapath(dpid):
                let (refused, actions) = claim(dpid, by: id, now: now)
                out += actions
                if refused { return out }
            case .ready:
                out.append(.count(.connects, by: 1))
                out.append(.bridgesConnected(readyBridgeCount))
                out += updateWarnings()
            case .confirmed:
                guard let at = c.session.confirmedAt else { break }
                out.append(.log(LogLine(.info, "bridge confirmed", [
                    "dpid": c.session.dpidText, "bridge": displayName(c), "flows": String(c.session.installed.count),
                    "flow_mods": String(c.session.flowModsSent), "connect_to_confirmed_ms": milliseconds(from: c.session.connectedAt, to: at),
                ])))
            case let .applied(change):
                out.append(.count(.changesApplied, by: 1))
                out.append(.changeConfirmed(seconds: Double(change.confirmed &- change.started) / 1e9))
                if let reload = change.reload {
                    reloads[reload]?.pending.remove(id)
                    out += finishReloadIfDone(reload, now: now)
                }
            case .changeSent:
                break // counted by `replan`, which fed the plan change
            case .scheduleReconcile:
                out.append(.scheduleReconcile(id))
            case let .switchError(type, code):
                out.append(.count(.switchErrors, by: 1))
                out += limitedLog(.warning, "switch error", key: .switchError(c.session.datapathID ?? 0), now: now, [
                    "dpid": c.session.dpidText, "bridge": c.session.bridgeName, "error": OpenFlowErrorCode.describe(type: type, code: code),
                ])
            case .macLearned:
                out.append(.count(.macsLearned, by: 1))
            case let .watchMediaFeed(candidate):
                out.append(.watchMediaFeed(id, candidate))
            }
        }
        return out
    }

    /// Records which connection serves datapath `dpid`. A datapath bound to a certificate is served
    /// only to that certificate. An established connection that answers keeps its datapath: the
    /// newcomer is refused (`DatapathClaim`); one that left an echo unanswered gives way.
    /// Returns whether the claimant was refused.
    mutating func claim(_ dpid: UInt64, by id: ConnectionID, now: UInt64) -> (refused: Bool, [ControllerAction]) {
        guard let claimant = connections[id] else { return (true, []) }
        let peer = claimant.peer.description
        if let bound = options.datapathCertificates[dpid], claimant.certificateName != bound {
            let presented = claimant.certificateName.map { "certificate '\($0)'" } ?? "no certificate"
            var out: [ControllerAction] = [.count(.claimsRefused, by: 1)]
            out += limitedLog(.warning, "datapath bound to another certificate; connection refused", key: .datapathClaimRefused(dpid), now: now, [
                "dpid": hex16(dpid), "peer": peer, "presented": presented, "bound_to": bound,
            ])
            out.append(.close(id, CloseReason(.datapathInUse, "datapath \(hex16(dpid)) is bound to certificate '\(bound)'; the peer presented \(presented)")))
            return (true, out)
        }
        if let oldID = byDatapath[dpid], oldID != id, let old = connections[oldID] {
            switch DatapathClaim.decide(echoOutstandingSince: old.session.echoSentAt, now: now, configuration: options.session) {
            case .keepIncumbent:
                var out: [ControllerAction] = [.count(.claimsRefused, by: 1)]
                out += limitedLog(.warning, "datapath already served by a live connection; newcomer refused", key: .datapathClaimRefused(dpid), now: now, [
                    "dpid": hex16(dpid), "serving_peer": old.peer.description, "refused_peer": peer,
                ])
                out.append(.close(id, CloseReason(.datapathInUse, "datapath \(hex16(dpid)) is served by \(old.peer), which still answers")))
                return (true, out)
            case .replaceIncumbent:
                byDatapath[dpid] = id
                return (false, [
                    .log(LogLine(.warning, "connection for datapath went silent; the new one takes over", [
                        "dpid": hex16(dpid), "old_peer": old.peer.description, "new_peer": peer,
                    ])),
                    .close(oldID, CloseReason(.replaced, "silent; replaced by a new connection from \(peer)")),
                ])
            }
        }
        byDatapath[dpid] = id
        return (false, [])
    }

    /// Rate-limited log lines: at most a burst of 10 per key, then one a second, with how many were suppressed.
    mutating func limitedLog(_ level: LogLine.Level, _ message: String, key: LogLimitKey, now: UInt64, _ fields: [String: String]) -> [ControllerAction] {
        let (ok, suppressed) = logLimiter.allow(key, now: now)
        guard ok else { return [] }
        var f = fields
        if suppressed > 0 { f["suppressed"] = String(suppressed) }
        return [.log(LogLine(level, message, f))]
    }
}

/// One accepted connection as the core holds it.
struct BridgeConnectionState: Sendable {
    let id: ConnectionID
    let peer: PeerAddress
    /// The verified TLS certificate's common name, once the handshake is done (nil for TCP and unix).
    var certificateName: String?
    var session: SwitchSession
}

/// One decimal: `3.2`.
func format1(_ v: Double) -> String {
    let tenths = Int((v * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
