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

    /// The match tails of one traffic class: source port or destination port, IPv4 and IPv6. The
    /// destination variant sits one priority higher so a frame matching both hits one flow, by rule.
    static func sipMatches(_ t: TrafficClass) -> [([OXMField], UInt16)] {
        let proto: UInt8 = t.proto == .udp ? 17 : 6
        let src: OXMField = t.proto == .udp ? .udpSrc(t.port) : .tcpSrc(t.port)
        let dst: OXMField = t.proto == .udp ? .udpDst(t.port) : .tcpDst(t.port)
        var tails: [([OXMField], UInt16)] = []
        for e in ethTypes {
            tails.append(([.ethType(e), .ipProto(proto), src], 0))
            tails.append(([.ethType(e), .ipProto(proto), dst], 1))
        }
        return tails
    }

    /// Later fragments of IPv4 and IPv6 datagrams.
    static let fragmentMatches: [([OXMField], UInt16)] = ethTypes.map { ([.ethType($0), .ipFragLater], 0) }

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
        var monitorsOfSession: [Int: Set<UInt32>] = [:]
        var monitorNames = Set<String>()
        for (name, p) in zip(names, parsed) {
            let sessions = policy.monitorIndex.sessions(selecting: name, parsed: p)
            guard !sessions.isEmpty, let ofport = ports[name] else { continue }
            monitorNames.insert(name)
            for s in sessions { monitorsOfSession[s, default: []].insert(ofport) }
        }

        // (port, traffic) -> monitor ofports receiving its copies.
        var targets: [String: [TrafficClass: Set<UInt32>]] = [:]
        var unmonitored: [Int: [String]] = [:]
        for (name, p) in zip(names, parsed) where !monitorNames.contains(name) {
            guard let ofport = ports[name] else { continue }
            for s in policy.watchIndex.sessions(selecting: name, parsed: p) {
                let session = policy.sessions[s]
                guard let monitors = monitorsOfSession[s] else { unmonitored[s, default: []].append(name); continue }
                for t in session.traffic { targets[name, default: [:]][t, default: []].formUnion(monitors.subtracting([ofport])) }
            }
        }
        for (s, watchedHere) in unmonitored.sorted(by: { $0.key < $1.key }) {
            notices.append("session '\(policy.sessions[s].name)': \(watchedHere.count) watched NIC(s) (\(watchedHere.prefix(5).joined(separator: ", "))) but no monitor NIC on this bridge; nothing is copied for them here")
        }

        // Guards: nothing but copies reaches a monitor NIC.
        let monitorPorts = monitorNames.sorted().compactMap { ports[$0] }
        let guardCookie = FlowCookie.cookie(.guard_)
        for q in monitorPorts {
            flows.append(Flow(priority: FlowPriority.guardDrop, match: Match([.inPort(q)]), instructions: [], cookie: guardCookie))
        }
        if !monitorPorts.isEmpty {
            flows.append(Flow(priority: FlowPriority.guardDrop, match: Match([.vlanVid(0x1000 | monitorVLAN)]), instructions: [], cookie: guardCookie))
        }

        let watched = targets.keys.sorted()
        var deliverySets = Set<[UInt32]>()
        var learning = Set<UInt32>()
        let copyCookie = FlowCookie.cookie(.copy), learnCookie = FlowCookie.cookie(.learning)

        /// Copy flows for `base` (who) × `tails` (what: L3/L4 fields and a priority offset), delivered to `set`.
        func copyFlows(priority: UInt16, base: [OXMField], tails: [([OXMField], UInt16)], to set: Set<UInt32>) -> [Flow] {
            let sorted = set.sorted()
            deliverySets.insert(sorted)
            let instructions: [Instruction] = [.applyActions([.normal]), .writeMetadata(value: deliveryID(sorted), mask: .max), .gotoTable(1)]
            return tails.map { tail, offset in
                Flow(priority: priority + offset, match: Match(base + tail), instructions: instructions, cookie: copyCookie)
            }
        }

        // Guest MACs of watched Proxmox NICs, and every watched NIC's monitors over all traffic classes:
        // computed once, so pair flows cost O(watched × NICs with known MACs), not O(watched²).
        var guestMACsOf: [String: [MACAddress]] = [:]
        for name in watched {
            let m = knownMACs[name] ?? (guestNICs.contains(name) ? macs.macs(of: name) : [])
            if !m.isEmpty { guestMACsOf[name] = m }
        }
        let portsWithMACs = watched.filter { guestMACsOf[$0] != nil }
        let allTargets = targets.mapValues { $0.values.reduce(into: Set<UInt32>()) { $0.formUnion($1) } }

        /// The copies of one watched NIC for one kind of traffic (`tails`): frames it sends, frames sent
        /// to its guest MACs, and frames it sends to another watched NIC whose monitors `set` lacks
        /// (copied once, to the union of both).
        func guestCopies(_ name: String, ofport: UInt32, tails: [([OXMField], UInt16)], to set: Set<UInt32>,
                         priorities: (from: UInt16, to: UInt16, between: UInt16), monitorsOf: (String) -> Set<UInt32>?) -> [Flow] {
            var out = copyFlows(priority: priorities.from, base: [.inPort(ofport)], tails: tails, to: set)
            for mac in guestMACsOf[name] ?? [] {
                out += copyFlows(priority: priorities.to, base: [.ethDst(mac)], tails: tails, to: set)
            }
            for other in portsWithMACs where other != name {
                guard let otherSet = monitorsOf(other), !otherSet.isSubset(of: set) else { continue }
                for mac in guestMACsOf[other] ?? [] {
                    out += copyFlows(priority: priorities.between, base: [.inPort(ofport), .ethDst(mac)], tails: tails, to: set.union(otherSet))
                }
            }
            return out
        }

        for name in watched {
            guard let ofport = ports[name], let byTraffic = targets[name] else { continue }
            for (t, set) in byTraffic.sorted(by: { $0.key < $1.key }) where !set.isEmpty {
                flows += guestCopies(name, ofport: ofport, tails: FlowPlanner.sipMatches(t), to: set,
                                     priorities: (FlowPriority.copyFromGuest, FlowPriority.copyToGuest, FlowPriority.copyBetweenGuests),
                                     monitorsOf: { targets[$0]?[t] })
            }
            // Later IP fragments carry no ports: those of a watched NIC go to all of its monitors, so a
            // large SIP message sent over UDP in fragments arrives whole (its first fragment has the ports).
            let all = allTargets[name] ?? []
            if !all.isEmpty {
                flows += guestCopies(name, ofport: ofport, tails: FlowPlanner.fragmentMatches, to: all,
                                     priorities: (FlowPriority.fragmentFromGuest, FlowPriority.fragmentToGuest, FlowPriority.fragmentBetweenGuests),
                                     monitorsOf: { allTargets[$0] })
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
            let outputs = set.map { Action.output($0) }
            flows.append(Flow(table: 1, priority: FlowPriority.deliveryTagged, match: Match([.metadata(id), .vlanVid(0x1000, mask: 0x1000)]),
                              instructions: [.applyActions([.popVlan] + outputs)], cookie: deliveryCookie))
            flows.append(Flow(table: 1, priority: FlowPriority.deliveryUntagged, match: Match([.metadata(id)]),
                              instructions: [.applyActions(outputs)], cookie: deliveryCookie))
        }

        return BridgePlan(flows: flows.sorted(), watchedPorts: watched, monitorPorts: monitorNames.sorted(), notices: notices, learningPorts: learning)
    }
}

/// The metadata value naming a set of monitor ports in table 1: the port number itself for one
/// monitor (readable in dump-flows), a tagged 63-bit FNV-1a hash of the sorted numbers otherwise.
public func deliveryID(_ sortedPorts: [UInt32]) -> UInt64 {
    if sortedPorts.count == 1 { return UInt64(sortedPorts[0]) }
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for p in sortedPorts {
        for shift in stride(from: 24, through: 0, by: -8) {
            h ^= UInt64((p >> UInt32(shift)) & 0xff)
            h = h &* 0x0000_0100_0000_01b3
        }
    }
    return 0x8000_0000_0000_0000 | (h & 0x7fff_ffff_ffff_ffff)
}
