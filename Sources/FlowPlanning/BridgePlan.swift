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
    /// Watched NICs with per-call media copies (their SIP also goes to the controller), by name.
    public let mediaNICs: [MediaNIC]
}

/// Computes a bridge's desired flows from (policies, ports, learned MACs). Pure and deterministic.
public struct FlowPlanner: Sendable {
    /// The access VLAN monitor NICs sit on (`tag=4094` in Proxmox); frames arriving tagged with it are dropped.
    public var monitorVLAN: UInt16
    /// Bytes of a frame sent to the controller for MAC learning.
    public var learningPacketBytes: UInt16
    /// The flow layout written into the cookies (`serve --flow-layout` overrides it for upgrade tests).
    public var layout: UInt8 = FlowCookie.currentLayout

    public init(monitorVLAN: UInt16 = 4094, learningPacketBytes: UInt16 = 64) {
        self.monitorVLAN = monitorVLAN; self.learningPacketBytes = learningPacketBytes
    }

    /// What is sent before anything else on every connection, with OFPFF_CHECK_OVERLAP, so a bridge
    /// that failed open or lost its flows forwards again at once: NORMAL at priority 0 for unicast and
    /// for multicast destinations (together, every frame). Two halves rather than one match-all flow
    /// because OVS checks overlap only when no flow has the identical match: a match-all priority-0
    /// flow already there (sipspan's, a newer sipspan's, an operator's) would be replaced, while the
    /// halves overlap it and are refused. The reconcile that follows replaces them with `normalFlow`.
    public var bootstrapFlows: [Flow] {
        let bit = MACAddress(bytes: [1, 0, 0, 0, 0, 0]), zero = MACAddress(bytes: [0, 0, 0, 0, 0, 0])
        return [zero, bit].compactMap { dst -> Flow? in
            guard let dst, let bit else { return nil }
            return Flow(priority: FlowPriority.normal, match: Match([.ethDst(dst, mask: bit)]), instructions: [.applyActions([.normal])],
                        cookie: FlowCookie.cookie(.forwarding, layout: layout))
        }
    }

    /// The learning switch every bridge always has: table 0, priority 0, any frame, NORMAL.
    public var normalFlow: Flow {
        Flow(priority: FlowPriority.normal, match: .any, instructions: [.applyActions([.normal])], cookie: FlowCookie.cookie(.forwarding, layout: layout))
    }

    /// The flow set for a bridge whose ports are `ports` (name → OpenFlow port number).
    ///
    /// `knownMACs` holds the guest MACs Proxmox's inventory gives for port names: those ports get
    /// copies of SIP sent to them from the start and no learning (nothing goes to the controller, no
    /// frame of theirs can change what is copied). `macs` (learned from PACKET_INs) serves only the
    /// watched ports the inventory does not know. `mediaFeed`: the port number of a media feed sipspan
    /// reads (`MediaFeedPort`); the SIP of media NICs then goes there rather than to the controller.
    public func plan(policy: PolicySet, ports: [String: UInt32], macs: GuestMACTable, knownMACs: [String: [MACAddress]] = [:],
                     mediaFeed: UInt32? = nil) -> BridgePlan {
        let targets = BridgeTargets(policy: policy, ports: ports, macs: macs, knownMACs: knownMACs)
        var copies = CopyFlows(layout: layout, mediaFeed: mediaFeed)
        copies.sip(targets)
        copies.fragments(targets)
        let mediaNICs = targets.mediaNICs
        copies.mediaDeliverySets(mediaNICs)
        let (learning, learningPorts) = LearningFlows.build(targets, packetBytes: learningPacketBytes, layout: layout)
        let flows = [normalFlow] + GuardFlows.build(targets, monitorVLAN: monitorVLAN, layout: layout) + copies.flows + learning
            + DeliveryFlows.build(copies.deliverySets, layout: layout)
        return BridgePlan(flows: flows.sorted(), watchedPorts: targets.watched, monitorPorts: targets.monitorNames.sorted(),
                          notices: targets.notices, learningPorts: learningPorts, mediaNICs: mediaNICs)
    }
}
