import FlowPlanning
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol

/// Views of the core: served bridges, node names, status and preview.
extension ControllerCore {

    /// Connections serving a bridge (past their first sync), in accept order.
    var servedConnections: [BridgeConnectionState] {
        byDatapath.values.sorted().compactMap { connections[$0] }.filter { $0.session.phase == .ready }
    }

    var readyBridgeCount: Int { servedConnections.count }

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
                                    + (s.newerLayout.map { ["flows of a newer sipspan (flow layout \($0)) are on this bridge: left alone"] } ?? []),
                                media: s.media.isActive || s.media.activeFlows + s.media.adoptedFlows > 0 ? MediaStatus(
                                    activeCalls: s.media.activeCalls, trackedCalls: s.media.trackedCalls, flows: s.media.activeFlows,
                                    flowsByNIC: s.media.flowsByNIC, adoptedFlows: s.media.adoptedFlows, counters: s.media.counters, feed: s.mediaFeed?.name) : nil)
        }
        return ControllerStatus(uptimeSeconds: seconds(from: startedAt, to: now), sessions: policy.sessions.map(\.name), bridges: bridges,
                                warnings: warnings.map(\.description), inventoryGuests: inventory.guests.count,
                                listening: listening, statusEndpoints: statusEndpoints, pmxcfs: pmxcfsStatus(now: now), role: "\(role)",
                                totals: ControllerTotals(ControllerCounter.allCases.map { ($0, totals[$0] ?? 0) }))
    }

    func pmxcfsStatus(now: UInt64) -> PmxcfsStatus {
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
}
