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
    public private(set) var writtenPolicy: PolicySet
    /// What Proxmox knows (empty without `--pve`).
    public private(set) var inventory: Inventory
    /// The policy in force: `writtenPolicy` with tags and pools resolved against `inventory`.
    public private(set) var policy: PolicySet
    /// Warnings about the policy against the cluster, as last logged.
    public private(set) var warnings: [Diagnostic] = []
    /// Emit a debug line per flow added or removed (sessions created from now on).
    public var logFlowChanges = false
    /// This instance's OpenFlow role on every bridge (`.equal` unless run as primary or standby).
    public private(set) var role: ControllerRole
    /// Wall-clock milliseconds minus monotonic milliseconds, from start: role requests carry the
    /// wall-clock time they are made as generation id, so the latest request wins across instances.
    private let wallClockOffset: Int64

    /// What every counter action added up to since start (also in `status`).
    public private(set) var totals: [ControllerCounter: Int] = [:]
    /// Where the runtime listens for switches, and its status endpoints (bound addresses).
    public private(set) var listening: [String] = []
    public private(set) var statusEndpoints: [String] = []

    private var connections: [ConnectionID: BridgeConnectionState] = [:]
    private var byDatapath: [UInt64: ConnectionID] = [:]
    private var nextConnection = 1
    private var reloads: [Int: PolicyReload] = [:]
    private var nextReload = 1
    private var logLimiter = LogLimiter()
    /// Problems of the inventory files as last logged (each is logged once).
    private var inventoryProblems: Set<Diagnostic>
    private let startedAt: UInt64
    /// Where the inventory is read from (`--pve`), nil without one.
    private let pveRoot: String?
    /// Whether pmxcfs was mounted at the last check, and since when.
    private var pmxcfs: PmxcfsState
    private var pmxcfsSince: UInt64
    /// When the inventory was last read from a mounted pmxcfs.
    private var inventoryReadAt: UInt64?

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

    private mutating func feed(_ id: ConnectionID, _ input: SessionInput, now: UInt64) -> [ControllerAction] {
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

    private mutating func forget(_ id: ConnectionID, reason: CloseReason, now: UInt64) -> [ControllerAction] {
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

    private mutating func translate(_ actions: [SessionAction], of id: ConnectionID, now: UInt64) -> [ControllerAction] {
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
            }
        }
        return out
    }

    /// Records which connection serves datapath `dpid`. A datapath bound to a certificate is served
    /// only to that certificate. An established connection that answers keeps its datapath: the
    /// newcomer is refused (`DatapathClaim`); one that left an echo unanswered gives way.
    /// Returns whether the claimant was refused.
    private mutating func claim(_ dpid: UInt64, by id: ConnectionID, now: UInt64) -> (refused: Bool, [ControllerAction]) {
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

    // MARK: policy and inventory

    /// A valid policy was read (files changed, noticed by `trigger`): put it in force and reconcile
    /// every bridge. Nothing happens when it equals the policy in force.
    public mutating func apply(policy newPolicy: PolicySet, changedFiles: [String], trigger: String, detectedAt: UInt64, now: UInt64) -> [ControllerAction] {
        guard newPolicy != writtenPolicy else { return [] }
        writtenPolicy = newPolicy
        var out: [ControllerAction] = [.count(.reloadsApplied, by: 1)]
        out.append(.log(LogLine(.info, "policy reloaded", [
            "files": changedFiles.joined(separator: ","), "sessions": String(newPolicy.sessions.count), "trigger": trigger,
        ])))
        return tallied(out + replan(.policy, reason: "policy edit (\(changedFiles.joined(separator: ", ")))", detectedAt: detectedAt, now: now))
    }

    /// An edit made the policy invalid: nothing changes; the errors are logged in `check`'s format.
    /// `pmxcfsUnmounted`: the policy lives on pmxcfs, which is not mounted now (its files are
    /// unknown for a while, not gone): said so instead of calling it an invalid policy.
    public mutating func reject(policy errors: PolicyErrors, changedFiles: [String], trigger: String, pmxcfsUnmounted: Bool = false) -> [ControllerAction] {
        var out: [ControllerAction] = [.count(.reloadsRejected, by: 1)]
        if pmxcfsUnmounted {
            out.append(.log(LogLine(.warning, "policy files unreadable while pmxcfs is not mounted; the last valid policy stays in force", [
                "files": changedFiles.joined(separator: ","), "trigger": trigger,
            ])))
            return tallied(out)
        }
        out.append(.log(LogLine(.error, "policy rejected; the last valid policy stays in force", [
            "files": changedFiles.joined(separator: ","), "trigger": trigger,
        ])))
        for d in errors.diagnostics {
            for line in [d] + d.notes { out.append(.log(LogLine(.error, "\(line.location): \(line.severity.rawValue): \(line.message)"))) }
        }
        return tallied(out)
    }

    /// One check of the inventory files: `files` as read now when they differ from the last check
    /// (`changedFiles`), nil when nothing changed. A reading of an unmounted pmxcfs changes nothing:
    /// the last good inventory (and with it every guest MAC, tag and pool) stays in force, logged
    /// once, shown in `status`. Otherwise the files are parsed (the last good view of a guest whose
    /// config cannot be parsed stays), each new problem is logged once, and a changed view is put in force.
    public mutating func apply(inventoryFiles files: [String: [UInt8]]?, readProblems: [Diagnostic], changedFiles: [String], root: String,
                               detectedAt: UInt64, now: UInt64) -> [ControllerAction] {
        guard let files else {
            if pmxcfs.isMounted { inventoryReadAt = now }
            return []
        }
        var out: [ControllerAction] = []
        let state = PmxcfsState.of(files: files, root: root)
        switch (pmxcfs, state) {
        case let (.mounted, .unavailable(reason)):
            pmxcfs = state; pmxcfsSince = now
            return [.log(LogLine(.warning, "pmxcfs unavailable; the last inventory and policy stay in force", [
                "reason": reason, "guests": String(inventory.guests.count),
            ]))]
        case (.unavailable, .unavailable):
            pmxcfs = state
            return []
        case (.unavailable, .mounted):
            out.append(.log(LogLine(.info, "pmxcfs available again", ["pve": root, "unavailable_s": String(format1(seconds(from: pmxcfsSince, to: now)))])))
            pmxcfs = .mounted; pmxcfsSince = now
        case (.mounted, .mounted):
            break
        }
        inventoryReadAt = now
        let changed = Set(changedFiles)
        let r = InventoryLoader.load(files: files, root: root, previous: inventory, changed: changed)
        // A config that did not change was not parsed again: its problem, if it had one, still stands.
        let prefix = root.hasSuffix("/") ? root : root + "/"
        let standing = inventoryProblems.filter { d in
            let rel = d.location.file.hasPrefix(prefix) ? String(d.location.file.dropFirst(prefix.count)) : d.location.file
            return rel.hasPrefix("nodes/") && files[rel] != nil && !changed.contains(rel)
        }
        let problems = Set(readProblems + r.diagnostics).union(standing)
        out += problems.subtracting(inventoryProblems).sorted().map {
            .log(LogLine(.warning, $0.description, ["note": "the last good view of that guest stays in force"]))
        }
        inventoryProblems = problems
        guard r.inventory != inventory else { return out }
        inventory = r.inventory
        out.append(.log(LogLine(.info, "inventory changed", [
            "files": changedFiles.prefix(5).joined(separator: ",") + (changedFiles.count > 5 ? ",…" : ""),
            "guests": String(r.inventory.guests.count),
        ])))
        return tallied(out + replan(.inventory, reason: "inventory change", detectedAt: detectedAt, now: now))
    }

    /// Re-resolves the policy and feeds every served bridge a plan change; one reload tracks the
    /// barriers they owe and is logged when the last one is answered (or its bridge is gone).
    private mutating func replan(_ kind: PolicyReload.Kind, reason: String, detectedAt: UInt64, now: UInt64) -> [ControllerAction] {
        policy = writtenPolicy.resolved(with: inventory.groups)
        var out = updateWarnings()
        let reloadID = nextReload
        nextReload += 1
        var reload = PolicyReload(kind: kind, reason: reason, detectedAt: detectedAt)
        for id in byDatapath.values.sorted() {
            let context = planningContext(now: now)
            guard let actions = connections[id]?.session.handle(.planChanged(reload: reloadID), now: now, context: context) else { continue }
            var sent = (added: 0, removed: 0)
            for case let .changeSent(added, removed, _) in actions { sent.added += added; sent.removed += removed }
            out += translate(actions, of: id, now: now)
            guard sent.added + sent.removed > 0 else { continue }
            reload.added += sent.added; reload.removed += sent.removed
            reload.pending.insert(id)
            reload.bridges += 1
        }
        reloads[reloadID] = reload
        return out + finishReloadIfDone(reloadID, now: now)
    }

    private mutating func finishReloadIfDone(_ id: Int, now: UInt64) -> [ControllerAction] {
        guard let r = reloads[id], r.pending.isEmpty else { return [] }
        reloads[id] = nil
        return [.log(LogLine(.info, r.kind == .policy ? "policy applied" : "inventory applied", [
            "change": r.reason, "added": String(r.added), "removed": String(r.removed), "bridges": String(r.bridges),
            "connected": String(byDatapath.count), "unconfirmed": String(r.lost), "ms": milliseconds(from: r.detectedAt, to: now, digits: 1),
        ]))]
    }

    /// Records where the runtime listens (bound addresses, for `status`).
    public mutating func listening(on addresses: [String]) { listening = addresses }

    /// Records a status endpoint the runtime serves (its bound address).
    public mutating func serving(statusEndpoint address: String) { statusEndpoints.append(address) }

    /// Adds the counter actions to `totals` and passes the actions on.
    private mutating func tallied(_ actions: [ControllerAction]) -> [ControllerAction] {
        for case let .count(counter, n) in actions { totals[counter, default: 0] += n }
        return actions
    }

    /// Logs the warnings about the policy in force (at start), and that pmxcfs is not mounted if so.
    public mutating func logWarnings() -> [ControllerAction] {
        var out: [ControllerAction] = []
        if pveRoot != nil, case let .unavailable(reason) = pmxcfs {
            out.append(.log(LogLine(.warning, "pmxcfs unavailable at start; no inventory until it is mounted", ["reason": reason])))
        }
        return out + updateWarnings()
    }

    /// Recomputes the operator's warnings (policy against the cluster) and logs each new one once.
    private mutating func updateWarnings() -> [ControllerAction] {
        guard !inventory.guests.isEmpty || !inventory.nodes.isEmpty else { warnings = []; return [] }
        var bridgesByNode: [String: Set<String>] = [:]
        for c in servedConnections { if let node = node(of: c) { bridgesByNode[node, default: []].insert(c.session.bridgeName) } }
        let fresh = InventoryWarnings.compute(policy: writtenPolicy, inventory: inventory, monitorVLAN: options.planner.monitorVLAN,
                                              ovsBridges: bridgesByNode.isEmpty ? nil : .perNode(bridgesByNode))
        let out: [ControllerAction] = fresh.filter { !warnings.contains($0) }.map {
            .log(LogLine(.warning, $0.message, ["where": $0.location.description]))
        }
        warnings = fresh
        return out
    }

    // MARK: views

    /// Connections serving a bridge (past their first sync), in accept order.
    private var servedConnections: [BridgeConnectionState] {
        byDatapath.values.sorted().compactMap { connections[$0] }.filter { $0.session.phase == .ready }
    }

    private var readyBridgeCount: Int { servedConnections.count }

    /// The Proxmox node a connection comes from: its peer address in `.members`, or this node for a
    /// local (unix socket or loopback) connection.
    func node(of c: BridgeConnectionState) -> String? {
        if let host = c.peer.host, let n = inventory.node(forAddress: host) { return n }
        return c.peer.isLocal ? inventory.localNode : nil
    }

    func displayName(_ c: BridgeConnectionState) -> String { BridgeName.display(node: node(of: c), bridge: c.session.bridgeName) }

    /// Guests behind Proxmox port names, as `101 (sip-proxy-1)`, without repeats.
    func guestLabels(_ ports: [String]) -> [String] {
        var seen = Set<UInt32>(), out: [String] = []
        for p in ports { if let parsed = ProxmoxPortName(p), seen.insert(parsed.vm).inserted { out.append(inventory.label(parsed.vm)) } }
        return out
    }

    /// A snapshot of every connection, for `sipspan status` and metrics.
    public func status(now: UInt64) -> ControllerStatus {
        let ordered = connections.values.sorted { ($0.session.datapathID ?? 0, $0.id) < ($1.session.datapathID ?? 0, $1.id) }
        let bridges = ordered.map { c -> BridgeStatus in
            let s = c.session
            var copied: [String: Int] = [:]
            for (port, count) in s.copiedFrames { copied[ProxmoxPortName(port).map { inventory.label($0.vm) } ?? port, default: 0] += count }
            return BridgeStatus(datapathID: s.datapathID.map(hex16), bridge: s.bridgeName, node: node(of: c), peer: c.peer.description, state: s.phase, confirmed: s.confirmedAt != nil,
                                connectedSeconds: seconds(from: s.connectedAt, to: now), ports: s.ports.count, flows: s.installed.count,
                                watchedPorts: s.plan?.watchedPorts ?? [], monitorPorts: s.plan?.monitorPorts ?? [],
                                watchedGuests: guestLabels(s.plan?.watchedPorts ?? []), copiedFrames: copied,
                                atomicChanges: s.bundles, writing: role != .slave && !s.demoted && s.newerLayout == nil, learnedMACs: s.macs.count, flowModsSent: s.flowModsSent,
                                notices: (s.plan?.notices ?? []) + s.conflicts.map { "not installed, an operator's flow holds its place: \($0)" }
                                    + (s.newerLayout.map { ["flows of a newer sipspan (flow layout \($0)) are on this bridge: left alone"] } ?? []))
        }
        return ControllerStatus(uptimeSeconds: seconds(from: startedAt, to: now), sessions: policy.sessions.map(\.name), bridges: bridges,
                                warnings: warnings.map(\.description), inventoryGuests: inventory.guests.count,
                                listening: listening, statusEndpoints: statusEndpoints, pmxcfs: pmxcfsStatus(now: now), role: "\(role)",
                                totals: ControllerTotals(ControllerCounter.allCases.map { ($0, totals[$0] ?? 0) }))
    }

    private func pmxcfsStatus(now: UInt64) -> PmxcfsStatus {
        guard let root = pveRoot else { return PmxcfsStatus(state: .none, reason: nil, root: nil, sinceSeconds: nil, inventoryAgeSeconds: nil) }
        let reason: String? = if case let .unavailable(r) = pmxcfs { r } else { nil }
        return PmxcfsStatus(state: pmxcfs.isMounted ? .mounted : .unavailable, reason: reason, root: root,
                            sinceSeconds: seconds(from: pmxcfsSince, to: now), inventoryAgeSeconds: inventoryReadAt.map { seconds(from: $0, to: now) })
    }

    /// What applying `set` would change on each served bridge; nothing is applied.
    public func preview(_ set: PolicySet) -> PlanPreview {
        let resolved = set.resolved(with: inventory.groups)
        var bridges: [PlanPreview.Bridge] = []
        for c in servedConnections {
            let s = c.session
            let known = inventory.macs(forPorts: s.ports.keys)
            let current = options.planner.plan(policy: policy, ports: s.ports, macs: s.macs, knownMACs: known)
            let next = options.planner.plan(policy: resolved, ports: s.ports, macs: s.macs, knownMACs: known)
            let diff = FlowDiff(installed: current.flows, desired: next.flows)
            let before = Set(guestLabels(current.watchedPorts)), after = Set(guestLabels(next.watchedPorts))
            bridges.append(PlanPreview.Bridge(bridge: displayName(c), datapathID: s.dpidText,
                                              added: diff.adds.map(\.description), removed: diff.deletes.map(\.description),
                                              copiesStart: after.subtracting(before).sorted(), copiesStop: before.subtracting(after).sorted()))
        }
        return PlanPreview(valid: true, diagnostics: [], bridges: bridges.sorted { $0.bridge < $1.bridge })
    }

    /// Rate-limited log lines: at most a burst of 10 per key, then one a second, with how many were suppressed.
    private mutating func limitedLog(_ level: LogLine.Level, _ message: String, key: LogLimitKey, now: UInt64, _ fields: [String: String]) -> [ControllerAction] {
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
