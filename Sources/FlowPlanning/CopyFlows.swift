import OpenFlow
import Policy

/// Table 0 copy flows: forward (NORMAL), name the delivery set in the metadata, go to table 1.
/// Collects the delivery sets it used, for `DeliveryFlows`.
struct CopyFlows {
    private(set) var flows: [Flow] = []
    private(set) var deliverySets = Set<[DeliveryTarget]>()
    let layout: UInt8
    /// Where the SIP of media NICs also goes: the media feed port, else the controller.
    let inspect: Action

    init(layout: UInt8, mediaFeed: UInt32? = nil) {
        self.layout = layout
        inspect = mediaFeed.map { Action.output(port: $0, maxLength: 0) } ?? CopyFlows.toController
    }

    static let ethTypes: [UInt16] = [0x0800, 0x86dd]

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

    /// The whole frame to the controller (OFPCML_NO_BUFFER): the SIP of NICs with per-call media copies.
    static let toController = Action.output(port: PortNumber.controller, maxLength: 0xffff)

    /// Copy flows for `base` (who) × `tails` (what: L3/L4 fields and a priority offset), delivered to
    /// `set`; with `inspect`, each frame also goes whole to sipspan (for its SDP): to the media feed
    /// port when there is one, else to the controller.
    private mutating func add(priority: UInt16, base: [OXMField], tails: [([OXMField], UInt16)], to set: Set<DeliveryTarget>, inspect: Bool = false) {
        let sorted = set.sorted()
        deliverySets.insert(sorted)
        let actions: [Action] = inspect ? [.normal, self.inspect] : [.normal]
        let instructions: [Instruction] = [.applyActions(actions), .writeMetadata(value: deliveryID(sorted), mask: .max), .gotoTable(1)]
        let cookie = FlowCookie.cookie(.copy, layout: layout)
        flows += tails.map { tail, offset in Flow(priority: priority + offset, match: Match(base + tail), instructions: instructions, cookie: cookie) }
    }

    /// SIP (the traffic classes' ports) sent by each watched NIC, sent to its guest MACs, and sent
    /// to another watched NIC whose copies also go elsewhere (once, to the union).
    mutating func sip(_ t: BridgeTargets) {
        for name in t.watched {
            guard let ofport = t.ports[name], let byProto = t.targets[name] else { continue }
            for proto in TrafficClass.L4.allCases {
                guard let sets = byProto[proto] else { continue }
                let inspect = t.media[name] != nil
                for (first, last, set) in t.segments.runs(proto, sets) {
                    let tails = CopyFlows.sipMatches(proto, first, last)
                    add(priority: FlowPriority.copyFromGuest, base: [.inPort(ofport)], tails: tails, to: set, inspect: inspect)
                    for mac in t.guestMACs[name] ?? [] { add(priority: FlowPriority.copyToGuest, base: [.ethDst(mac)], tails: tails, to: set, inspect: inspect) }
                }
                for other in t.portsWithMACs where other != name {
                    guard let otherSets = t.targets[other]?[proto] else { continue }
                    var pairSets: [Int: Set<DeliveryTarget>] = [:]
                    for (i, mine) in sets where !mine.isEmpty {
                        guard let theirs = otherSets[i], !theirs.isSubset(of: mine) else { continue }
                        pairSets[i] = mine.union(theirs)
                    }
                    for (first, last, set) in t.segments.runs(proto, pairSets) {
                        for mac in t.guestMACs[other] ?? [] {
                            add(priority: FlowPriority.copyBetweenGuests, base: [.inPort(ofport), .ethDst(mac)],
                                tails: CopyFlows.sipMatches(proto, first, last), to: set, inspect: t.media[name] != nil || t.media[other] != nil)
                        }
                    }
                }
            }
        }
    }

    /// The delivery sets per-call media flows use (`MediaFlows`): each media NIC's, and the pair
    /// unions `MediaNIC.pairTargets` gives (a call between two watched guests is copied once, to both).
    mutating func mediaDeliverySets(_ nics: [MediaNIC]) {
        for a in nics {
            deliverySets.insert(a.targets)
            for b in nics { if let union = a.pairTargets(to: b) { deliverySets.insert(union) } }
        }
    }

    /// Later IP fragments carry no ports: those of a watched NIC go to all of its targets, so a
    /// large SIP message sent over UDP in fragments arrives whole (its first fragment has the ports).
    mutating func fragments(_ t: BridgeTargets) {
        for name in t.watched {
            guard let ofport = t.ports[name], let all = t.allTargets[name], !all.isEmpty else { continue }
            add(priority: FlowPriority.fragmentFromGuest, base: [.inPort(ofport)], tails: CopyFlows.fragmentMatches, to: all)
            for mac in t.guestMACs[name] ?? [] {
                add(priority: FlowPriority.fragmentToGuest, base: [.ethDst(mac)], tails: CopyFlows.fragmentMatches, to: all)
            }
            for other in t.portsWithMACs where other != name {
                guard let otherAll = t.allTargets[other], !otherAll.isSubset(of: all) else { continue }
                for mac in t.guestMACs[other] ?? [] {
                    add(priority: FlowPriority.fragmentBetweenGuests, base: [.inPort(ofport), .ethDst(mac)],
                        tails: CopyFlows.fragmentMatches, to: all.union(otherAll))
                }
            }
        }
    }
}
