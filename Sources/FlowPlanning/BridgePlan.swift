import OpenFlow
import Policy

/// The exact flow set sipspan wants on one bridge, and what an operator should know about it.
public struct BridgePlan: Hashable, Sendable {
    /// Every flow, sorted by table, priority (high first) and match.
    public let flows: [Flow]
    /// Watched ports present on the bridge that get copies, by name.
    public let watchedPorts: [String]
    /// Monitor ports present on the bridge, by name.
    public let monitorPorts: [String]
    /// Conditions worth a log line, e.g. a watched NIC with no monitor on this bridge.
    public let notices: [String]
    /// Ports whose guest MACs are learned from PACKET_IN.
    public let learningPorts: Set<UInt32>
}

/// Computes a bridge's desired flows from (policies, ports, learned MACs). Pure and deterministic.
public struct FlowPlanner: Sendable {
    /// The access VLAN monitor NICs sit on (`tag=4094` in Proxmox); frames arriving tagged with it are dropped.
    public var monitorVLAN: UInt16
    /// Bytes of a frame sent to the controller for MAC learning.
    public var learningPacketBytes: UInt16

    public init(monitorVLAN: UInt16 = 4094, learningPacketBytes: UInt16 = 64) {
        self.monitorVLAN = monitorVLAN; self.learningPacketBytes = learningPacketBytes
    }

    static let ethTypes: [UInt16] = [0x0800, 0x86dd]

    /// The learning switch every bridge always has: table 0, priority 0, any frame, NORMAL.
    public static let normalFlow = Flow(priority: FlowPriority.normal, match: .any, instructions: [.applyActions([.normal])],
                                        cookie: FlowCookie.cookie(.forwarding))

    /// The match tails of one port range of one protocol: source or destination port, IPv4 and IPv6,
    /// one per prefix of the range. The destination variant sits one priority higher so a frame
    /// matching both hits one flow, by rule.
    static func sipMatches(_ proto: TrafficClass.L4, _ first: UInt16, _ last: UInt16) -> [([OXMField], UInt16)] {
        let ipProto: UInt8 = proto == .udp ? 17 : 6
        let (srcField, dstField): (OXMField.Basic, OXMField.Basic) = proto == .udp ? (.udpSrc, .udpDst) : (.tcpSrc, .tcpDst)
        var tails: [([OXMField], UInt16)] = []
        for e in ethTypes {
            for (value, mask) in portPrefixes(first, last) {
                tails.append(([.ethType(e), .ipProto(ipProto), .l4Port(srcField, value, mask: mask)], 0))
                tails.append(([.ethType(e), .ipProto(ipProto), .l4Port(dstField, value, mask: mask)], 1))
            }
        }
        return tails
    }

    /// Later fragments of IPv4 and IPv6 datagrams.
    static let fragmentMatches: [([OXMField], UInt16)] = ethTypes.map { ([.ethType($0), .ipFragLater], 0) }

    /// The port ranges of every traffic class in force, cut where any class starts or ends: each
    /// segment is covered by the same classes throughout, so a port's copies are one set per segment
    /// and overlapping classes of different sessions never make two flows compete for a frame.
    struct Segments {
        /// Per protocol, disjoint ranges in order.
        var ranges: [TrafficClass.L4: [(first: UInt16, last: UInt16)]] = [:]

        init(_ classes: [TrafficClass]) {
            for proto in TrafficClass.L4.allCases {
                let mine = classes.filter { $0.proto == proto }
                var cuts = Set<UInt32>()
                for t in mine { cuts.insert(UInt32(t.first)); cuts.insert(UInt32(t.last) + 1) }
                let sorted = cuts.sorted()
                var out: [(UInt16, UInt16)] = []
                for (a, b) in zip(sorted, sorted.dropFirst()) {
                    let first = UInt16(a), last = UInt16(b - 1)
                    if mine.contains(where: { $0.first <= first && last <= $0.last }) { out.append((first, last)) }
                }
                if !out.isEmpty { ranges[proto] = out }
            }
        }

        /// Indices of the segments inside `t`.
        func indices(of t: TrafficClass) -> [Int] {
            (ranges[t.proto] ?? []).indices.filter { i in ranges[t.proto].map { $0[i].first >= t.first && $0[i].last <= t.last } ?? false }
        }
    }

    /// The flow set for a bridge whose ports are `ports` (name → OpenFlow port number).
    ///
    /// `knownMACs` holds the guest MACs Proxmox's inventory gives for port names: those ports get
    /// copies of SIP sent to them from the start and no learning (nothing goes to the controller, no
    /// frame of theirs can change what is copied). `macs` (learned from PACKET_INs) serves only the
    /// watched ports the inventory does not know.
    public func plan(policy: PolicySet, ports: [String: UInt32], macs: GuestMACTable, knownMACs: [String: [MACAddress]] = [:]) -> BridgePlan {
        let names = ports.filter { $0.value <= PortNumber.max }.keys.sorted()
        var flows: [Flow] = [FlowPlanner.normalFlow]
        var notices: [String] = []

        // Each port name is parsed and looked up once; the indexes make this O(ports), whatever the policy's size.
        let parsed = names.map { ProxmoxPortName($0) }
        let guestNICs = Set(zip(names, parsed).compactMap { $1 == nil ? nil : $0 })
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
        let segments = Segments(policy.sessions.enumerated().filter { targetsOfSession[$0.offset] != nil }.flatMap(\.element.traffic))
        var targets: [String: [TrafficClass.L4: [Int: Set<DeliveryTarget>]]] = [:]
        var unmonitored: [Int: [String]] = [:]
        for (name, p) in zip(names, parsed) where !monitorNames.contains(name) && !tunnelNames.contains(name) {
            guard let ofport = ports[name] else { continue }
            for s in policy.watchIndex.sessions(selecting: name, parsed: p) {
                let session = policy.sessions[s]
                guard let set = targetsOfSession[s] else { unmonitored[s, default: []].append(name); continue }
                let to = set.subtracting([.port(ofport)])
                for t in session.traffic {
                    for i in segments.indices(of: t) { targets[name, default: [:]][t.proto, default: [:]][i, default: []].formUnion(to) }
                }
            }
        }
        for (s, watchedHere) in unmonitored.sorted(by: { $0.key < $1.key }) {
            notices.append("session '\(policy.sessions[s].name)': \(watchedHere.count) watched NIC(s) (\(watchedHere.prefix(5).joined(separator: ", "))) but no monitor NIC or collector tunnel on this bridge; nothing is copied for them here")
        }

        // Guards: nothing but copies reaches a monitor NIC; nothing enters from a collector tunnel.
        let monitorPorts = monitorNames.sorted().compactMap { ports[$0] }
        let guardCookie = FlowCookie.cookie(.guard_)
        for q in monitorPorts + tunnelPorts.sorted() {
            flows.append(Flow(priority: FlowPriority.guardDrop, match: Match([.inPort(q)]), instructions: [], cookie: guardCookie))
        }
        if !monitorPorts.isEmpty {
            flows.append(Flow(priority: FlowPriority.guardDrop, match: Match([.vlanVid(0x1000 | monitorVLAN)]), instructions: [], cookie: guardCookie))
        }

        let watched = targets.keys.sorted()
        var deliverySets = Set<[DeliveryTarget]>()
        var learning = Set<UInt32>()
        let copyCookie = FlowCookie.cookie(.copy), learnCookie = FlowCookie.cookie(.learning)

        /// Copy flows for `base` (who) × `tails` (what: L3/L4 fields and a priority offset), delivered to `set`.
        func copyFlows(priority: UInt16, base: [OXMField], tails: [([OXMField], UInt16)], to set: Set<DeliveryTarget>) -> [Flow] {
            let sorted = set.sorted()
            deliverySets.insert(sorted)
            let instructions: [Instruction] = [.applyActions([.normal]), .writeMetadata(value: deliveryID(sorted), mask: .max), .gotoTable(1)]
            return tails.map { tail, offset in
                Flow(priority: priority + offset, match: Match(base + tail), instructions: instructions, cookie: copyCookie)
            }
        }

        /// Runs of adjacent segments with the same non-empty set: (first port, last port, set).
        func runs(_ proto: TrafficClass.L4, _ sets: [Int: Set<DeliveryTarget>]) -> [(UInt16, UInt16, Set<DeliveryTarget>)] {
            let ranges = segments.ranges[proto] ?? []
            var out: [(UInt16, UInt16, Set<DeliveryTarget>)] = []
            for i in sets.keys.sorted() {
                guard let set = sets[i], !set.isEmpty else { continue }
                if let last = out.last, last.2 == set, Int(last.1) + 1 == Int(ranges[i].first) {
                    out[out.count - 1].1 = ranges[i].last
                } else {
                    out.append((ranges[i].first, ranges[i].last, set))
                }
            }
            return out
        }

        // Guest MACs of watched NICs: the inventory's, else those learned on Proxmox NICs.
        var guestMACsOf: [String: [MACAddress]] = [:]
        for name in watched {
            let m = knownMACs[name] ?? (guestNICs.contains(name) ? macs.macs(of: name) : [])
            if !m.isEmpty { guestMACsOf[name] = m }
        }
        let portsWithMACs = watched.filter { guestMACsOf[$0] != nil }
        var allTargets: [String: Set<DeliveryTarget>] = [:]
        for (name, byProto) in targets { for sets in byProto.values { for set in sets.values { allTargets[name, default: []].formUnion(set) } } }

        for name in watched {
            guard let ofport = ports[name], let byProto = targets[name] else { continue }
            let macsHere = guestMACsOf[name] ?? []
            for proto in TrafficClass.L4.allCases {
                guard let sets = byProto[proto] else { continue }
                for (first, last, set) in runs(proto, sets) {
                    let tails = FlowPlanner.sipMatches(proto, first, last)
                    flows += copyFlows(priority: FlowPriority.copyFromGuest, base: [.inPort(ofport)], tails: tails, to: set)
                    for mac in macsHere { flows += copyFlows(priority: FlowPriority.copyToGuest, base: [.ethDst(mac)], tails: tails, to: set) }
                }
                // Frames this NIC sends to another watched NIC whose copies go elsewhere too: once, to the union.
                for other in portsWithMACs where other != name {
                    guard let otherSets = targets[other]?[proto] else { continue }
                    var pairSets: [Int: Set<DeliveryTarget>] = [:]
                    for (i, mine) in sets where !mine.isEmpty {
                        guard let theirs = otherSets[i], !theirs.isSubset(of: mine) else { continue }
                        pairSets[i] = mine.union(theirs)
                    }
                    for (first, last, set) in runs(proto, pairSets) {
                        for mac in guestMACsOf[other] ?? [] {
                            flows += copyFlows(priority: FlowPriority.copyBetweenGuests, base: [.inPort(ofport), .ethDst(mac)],
                                               tails: FlowPlanner.sipMatches(proto, first, last), to: set)
                        }
                    }
                }
            }
            // Later IP fragments carry no ports: those of a watched NIC go to all of its targets, so a
            // large SIP message sent over UDP in fragments arrives whole (its first fragment has the ports).
            let all = allTargets[name] ?? []
            if !all.isEmpty {
                flows += copyFlows(priority: FlowPriority.fragmentFromGuest, base: [.inPort(ofport)], tails: FlowPlanner.fragmentMatches, to: all)
                for mac in macsHere {
                    flows += copyFlows(priority: FlowPriority.fragmentToGuest, base: [.ethDst(mac)], tails: FlowPlanner.fragmentMatches, to: all)
                }
                for other in portsWithMACs where other != name {
                    guard let otherAll = allTargets[other], !otherAll.isSubset(of: all) else { continue }
                    for mac in guestMACsOf[other] ?? [] {
                        flows += copyFlows(priority: FlowPriority.fragmentBetweenGuests, base: [.inPort(ofport), .ethDst(mac)],
                                           tails: FlowPlanner.fragmentMatches, to: all.union(otherAll))
                    }
                }
            }
            if guestNICs.contains(name) && !all.isEmpty && knownMACs[name] == nil {
                learning.insert(ofport)
                flows.append(Flow(priority: FlowPriority.learnUnknown, match: Match([.inPort(ofport)]),
                                  instructions: [.applyActions([.normal, .output(port: PortNumber.controller, maxLength: learningPacketBytes)])], cookie: learnCookie))
                for mac in guestMACsOf[name] ?? [] {
                    flows.append(Flow(priority: FlowPriority.learnKnown, match: Match([.inPort(ofport), .ethSrc(mac)]),
                                      instructions: [.applyActions([.normal])], cookie: learnCookie))
                }
            }
        }

        let deliveryCookie = FlowCookie.cookie(.delivery)
        for set in deliverySets {
            let id = deliveryID(set)
            let actions = set.flatMap(\.actions)
            flows.append(Flow(table: 1, priority: FlowPriority.deliveryTagged, match: Match([.metadata(id), .vlanVid(0x1000, mask: 0x1000)]),
                              instructions: [.applyActions([.popVlan] + actions)], cookie: deliveryCookie))
            flows.append(Flow(table: 1, priority: FlowPriority.deliveryUntagged, match: Match([.metadata(id)]),
                              instructions: [.applyActions(actions)], cookie: deliveryCookie))
        }

        return BridgePlan(flows: flows.sorted(), watchedPorts: watched, monitorPorts: monitorNames.sorted(), notices: notices, learningPorts: learning)
    }
}
