import Policy

/// Which bridges are Open vSwitch bridges connected to sipspan.
public enum OVSBridges: Sendable {
    /// The same names on every node (`check`: from /etc/network/interfaces or `--ovs-bridges`).
    case clusterWide(Set<String>)
    /// Per node (`serve`: the bridges connected from each node).
    case perNode([String: Set<String>])

    func contains(_ bridge: String, node: String) -> Bool {
        switch self {
        case let .clusterWide(set): return set.contains(bridge)
        case let .perNode(map): return map[node]?.contains(bridge) ?? false
        }
    }

    func knows(node: String) -> Bool {
        switch self {
        case .clusterWide: return true
        case let .perNode(map): return map[node] != nil
        }
    }
}

/// What an operator needs to know about a policy against the cluster: selectors that name nothing,
/// NICs whose SIP cannot be copied, monitor NICs set up so that copies are lost or polluted, nodes
/// with watched NICs and no monitor. Warnings, never errors: guests may be created later. Pure.
public enum InventoryWarnings {
    public static func compute(policy: PolicySet, inventory: Inventory, monitorVLAN: UInt16, ovsBridges: OVSBridges?,
                               root: String = "/etc/pve") -> [Diagnostic] {
        var out = Set<Diagnostic>()
        let groups = inventory.groups
        func at(_ s: MirrorSession, _ sel: PortSelector?) -> SourceLocation {
            sel.flatMap { s.locations[$0] } ?? SourceLocation(file: s.file, line: 1, column: 1)
        }
        func at(_ g: Guest, _ n: GuestNIC) -> SourceLocation {
            SourceLocation(file: g.configPath(root: root), line: max(n.line, 1), column: 1)
        }
        func warn(_ loc: SourceLocation, _ message: String) { out.insert(Diagnostic(.warning, loc, message)) }
        func nicName(_ g: Guest, _ n: GuestNIC) -> String { "VM \(g.label) net\(n.index)" }

        /// The guest NICs a resolved selector names.
        func nics(_ sel: PortSelector) -> [(Guest, GuestNIC)] {
            guard case let .vm(id, nic) = sel, let g = inventory.guests[id] else { return [] }
            if let nic { return g.nics[nic].map { [(g, $0)] } ?? [] }
            return g.nics.keys.sorted().compactMap { i in g.nics[i].map { (g, $0) } }
        }

        var allMonitorNICs = Set<String>()
        let resolved = policy.sessions.map { ($0, $0.resolved(with: groups)) }
        for (_, r) in resolved { for m in r.monitors { for (g, n) in nics(m) { allMonitorNICs.insert("\(g.vmid)/\(n.index)") } } }

        for (written, r) in resolved {
            // Selectors that name nothing (yet).
            for sel in written.selectors {
                switch sel {
                case let .vm(id, nic):
                    if let g = inventory.guests[id] {
                        if let nic, g.nics[nic] == nil { warn(at(written, sel), "VM \(g.label) has no net\(nic)") }
                    } else {
                        warn(at(written, sel), "VM \(id) is not in the cluster (no config under \(root)/nodes/*/)")
                    }
                case let .tag(t, _):
                    if (groups.tags[t] ?? []).isEmpty { warn(at(written, sel), "no guest has the tag '\(t)' (yet)") }
                case let .pool(p, _):
                    if inventory.pools[p] == nil { warn(at(written, sel), "pool '\(p)' does not exist (yet)") }
                    else if inventory.pools[p]?.isEmpty == true { warn(at(written, sel), "pool '\(p)' has no guests") }
                case .port:
                    break
                }
            }
            // Watched NICs that cannot be copied.
            var watched: [(Guest, GuestNIC)] = []
            switch r.watch {
            case .all:
                for g in inventory.guests.values { for n in g.nics.values where !allMonitorNICs.contains("\(g.vmid)/\(n.index)") { watched.append((g, n)) } }
            case let .ports(list):
                for sel in list { watched += nics(sel).filter { !allMonitorNICs.contains("\($0.0.vmid)/\($0.1.index)") } }
            }
            for (g, n) in watched {
                if n.linkDown { warn(at(g, n), "\(nicName(g, n)) has link_down=1: it carries no traffic, nothing of it can be copied") }
                if let ovs = ovsBridges, let bridge = n.bridge, ovs.knows(node: g.node), !ovs.contains(bridge, node: g.node) {
                    warn(at(g, n), "\(nicName(g, n)) is on bridge '\(bridge)', which is not an Open vSwitch bridge connected to sipspan on node \(g.node) (a Linux bridge or an SDN vnet?): its SIP cannot be copied")
                }
            }
            // Monitor NICs that lose or pollute copies.
            var monitors: [(Guest, GuestNIC)] = []
            for m in r.monitors { monitors += nics(m) }
            for (g, n) in monitors {
                if n.firewall {
                    warn(at(g, n), "monitor NIC \(nicName(g, n)) has firewall=1: copies cross the guest firewall's bridge and conntrack, which can drop them; set firewall=0")
                }
                if n.tag != monitorVLAN {
                    warn(at(g, n), "monitor NIC \(nicName(g, n)) is not on the monitor VLAN \(monitorVLAN) (\(n.tag.map { "tag=\($0)" } ?? "untagged")): NORMAL floods other traffic into it; set tag=\(monitorVLAN)")
                }
            }
            // Nodes with watched NICs and no monitor of this session (unknowable with port: monitors).
            if !written.monitors.contains(where: { if case .port = $0 { return true }; return false }) {
                let monitored = Set(monitors.map(\.0.node))
                var byNode: [String: [String]] = [:]
                for (g, _) in watched where !monitored.contains(g.node) { byNode[g.node, default: []].append(g.label) }
                for (node, labels) in byNode {
                    let names = Array(Set(labels)).sorted()
                    warn(at(written, written.monitors.first), "node \(node) has NICs watched by session '\(written.name)' (VM \(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", …" : "")) but no monitor NIC of that session: nothing is copied there")
                }
            }
        }
        // NICs on the monitor VLAN that are no monitor.
        for g in inventory.guests.values {
            for n in g.nics.values where n.tag == monitorVLAN && !allMonitorNICs.contains("\(g.vmid)/\(n.index)") {
                warn(at(g, n), "\(nicName(g, n)) is on the monitor VLAN \(monitorVLAN) but is no monitor: NORMAL floods its frames into the monitor NICs")
            }
        }
        return out.sorted()
    }
}
