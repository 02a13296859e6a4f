import OpenFlow
import Policy

/// Who is who on one bridge under a policy, resolved once for every builder: monitor and tunnel
/// ports, the watched ports with their delivery targets per traffic segment, and guest MACs.
/// Each port name is parsed and looked up once: O(ports), whatever the policy's size.
struct BridgeTargets {
    let ports: [String: UInt32]
    /// Port names with a usable OpenFlow number, sorted.
    let names: [String]
    /// Proxmox guest NICs (tap/veth/fwln) among them.
    let guestNICs: Set<String>
    let monitorNames: Set<String>
    /// Local monitor ports, sorted by name.
    let monitorPorts: [UInt32]
    let tunnelPorts: Set<UInt32>
    /// Media feed ports (`MediaFeedName`): receive-only, sorted.
    let feedPorts: [UInt32]
    let segments: TrafficSegments
    /// Per watched port, protocol and segment: where its copies go.
    let targets: [String: [TrafficClass.L4: [Int: Set<DeliveryTarget>]]]
    /// Watched ports, sorted.
    let watched: [String]
    /// Guest MACs of watched NICs: the inventory's, else those learned on Proxmox NICs.
    let guestMACs: [String: [MACAddress]]
    /// Watched ports whose guest MACs are known.
    let portsWithMACs: [String]
    /// Per watched port, every target of any of its segments.
    let allTargets: [String: Set<DeliveryTarget>]
    /// Ports the inventory gives MACs for (no learning there).
    let knownMACs: [String: [MACAddress]]
    let notices: [String]
    /// Watched NICs with per-call media copies: selection and targets (of the sessions with `media:`).
    let media: [String: (selection: MediaCopy, targets: Set<DeliveryTarget>)]

    init(policy: PolicySet, ports: [String: UInt32], macs: GuestMACTable, knownMACs: [String: [MACAddress]]) {
        self.ports = ports
        self.knownMACs = knownMACs
        names = ports.filter { $0.value <= PortNumber.max }.keys.sorted()
        var notices: [String] = []
        let parsed = names.map { ProxmoxPortName($0) }
        guestNICs = Set(zip(names, parsed).compactMap { $1 == nil ? nil : $0 })
        var targetsOfSession: [Int: Set<DeliveryTarget>] = [:]
        var monitorNames = Set<String>()
        for (name, p) in zip(names, parsed) {
            let sessions = policy.monitorIndex.sessions(selecting: name, parsed: p)
            guard !sessions.isEmpty, let ofport = ports[name] else { continue }
            monitorNames.insert(name)
            for s in sessions { targetsOfSession[s, default: []].insert(.port(ofport)) }
        }
        // Collectors, through the tunnel port each names (it must be on this bridge).
        var tunnelPorts = Set<UInt32>()
        for (i, session) in policy.sessions.enumerated() {
            for c in session.collectors {
                guard let t = ports[c.tunnel] else {
                    notices.append("session '\(session.name)': collector \(c.addressText) needs the tunnel port '\(c.tunnel)' on this bridge; nothing is sent to it from here")
                    continue
                }
                tunnelPorts.insert(t)
                targetsOfSession[i, default: []].insert(.tunnel(port: t, address: c.address, key: c.sessionID))
            }
        }
        let tunnelNames = Set(names.filter { ports[$0].map(tunnelPorts.contains) ?? false })

        // Copies per watched port and segment of the traffic ranges.
        let segments = TrafficSegments(policy.sessions.enumerated().filter { targetsOfSession[$0.offset] != nil }.flatMap(\.element.traffic))
        var targets: [String: [TrafficClass.L4: [Int: Set<DeliveryTarget>]]] = [:]
        var unmonitored: [Int: [String]] = [:]
        var media: [String: (selection: MediaCopy, targets: Set<DeliveryTarget>)] = [:]
        for (name, p) in zip(names, parsed) where !monitorNames.contains(name) && !tunnelNames.contains(name) {
            guard let ofport = ports[name] else { continue }
            for s in policy.watchIndex.sessions(selecting: name, parsed: p) {
                let session = policy.sessions[s]
                guard let set = targetsOfSession[s] else { unmonitored[s, default: []].append(name); continue }
                let to = set.subtracting([.port(ofport)])
                if session.media != .none, !to.isEmpty {
                    let m = media[name]
                    media[name] = (max(m?.selection ?? .none, session.media), (m?.targets ?? []).union(to))
                }
                for t in session.traffic {
                    for i in segments.indices(of: t) { targets[name, default: [:]][t.proto, default: [:]][i, default: []].formUnion(to) }
                }
            }
        }
        for (s, watchedHere) in unmonitored.sorted(by: { $0.key < $1.key }) {
            notices.append("session '\(policy.sessions[s].name)': \(watchedHere.count) watched NIC(s) (\(watchedHere.prefix(5).joined(separator: ", "))) but no monitor NIC or collector tunnel on this bridge; nothing is copied for them here")
        }
        let watched = targets.keys.sorted()
        var guestMACs: [String: [MACAddress]] = [:]
        for name in watched {
            let m = knownMACs[name] ?? (guestNICs.contains(name) ? macs.macs(of: name) : [])
            if !m.isEmpty { guestMACs[name] = m }
        }
        var allTargets: [String: Set<DeliveryTarget>] = [:]
        for (name, byProto) in targets { for sets in byProto.values { for set in sets.values { allTargets[name, default: []].formUnion(set) } } }

        self.monitorNames = monitorNames
        monitorPorts = monitorNames.sorted().compactMap { ports[$0] }
        self.tunnelPorts = tunnelPorts
        feedPorts = names.filter(MediaFeedName.matches).compactMap { ports[$0] }.sorted()
        self.segments = segments
        self.targets = targets
        self.watched = watched
        self.guestMACs = guestMACs
        portsWithMACs = watched.filter { guestMACs[$0] != nil }
        self.allTargets = allTargets
        self.notices = notices
        self.media = media.filter { targets[$0.key] != nil }
    }

    /// The media NICs among the watched ports, sorted by name.
    var mediaNICs: [MediaNIC] {
        media.keys.sorted().compactMap { name in
            guard let port = ports[name], let m = media[name] else { return nil }
            return MediaNIC(name: name, port: port, macs: guestMACs[name] ?? [], selection: m.selection, targets: m.targets.sorted())
        }
    }
}
