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

    /// The learning switch every bridge always has: table 0, priority 0, any frame, NORMAL.
    public static let normalFlow = Flow(priority: FlowPriority.normal, match: .any, instructions: [.applyActions([.normal])],
                                        cookie: FlowCookie.cookie(.forwarding))

    /// The flow set for a bridge whose ports are `ports` (name → OpenFlow port number).
    ///
    /// `knownMACs` holds the guest MACs Proxmox's inventory gives for port names: those ports get
    /// copies of SIP sent to them from the start and no learning (nothing goes to the controller, no
    /// frame of theirs can change what is copied). `macs` (learned from PACKET_INs) serves only the
    /// watched ports the inventory does not know.
    public func plan(policy: PolicySet, ports: [String: UInt32], macs: GuestMACTable, knownMACs: [String: [MACAddress]] = [:]) -> BridgePlan {
        let targets = BridgeTargets(policy: policy, ports: ports, macs: macs, knownMACs: knownMACs)
        var copies = CopyFlows()
        copies.sip(targets)
        copies.fragments(targets)
        let (learning, learningPorts) = LearningFlows.build(targets, packetBytes: learningPacketBytes)
        let flows = [FlowPlanner.normalFlow] + GuardFlows.build(targets, monitorVLAN: monitorVLAN) + copies.flows + learning
            + DeliveryFlows.build(copies.deliverySets)
        return BridgePlan(flows: flows.sorted(), watchedPorts: targets.watched, monitorPorts: targets.monitorNames.sorted(),
                          notices: targets.notices, learningPorts: learningPorts)
    }
}
