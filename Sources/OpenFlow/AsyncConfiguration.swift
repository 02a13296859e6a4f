/// OFPT_SET_ASYNC (OpenFlow 1.3.5 §7.3.10): which asynchronous messages the switch sends this
/// connection, as bitmasks of reasons, one for the master and equal roles and one for the slave role.
public struct AsyncConfiguration: Hashable, Sendable {
    /// Bits of OFPR_* (0 no match, 1 action, 2 invalid TTL).
    public var packetInMaster: UInt32, packetInSlave: UInt32
    /// Bits of OFPPR_* (0 add, 1 delete, 2 modify).
    public var portStatusMaster: UInt32, portStatusSlave: UInt32
    /// Bits of OFPRR_* (0 idle timeout, 1 hard timeout, 2 delete, 3 group delete).
    public var flowRemovedMaster: UInt32, flowRemovedSlave: UInt32

    public init(packetInMaster: UInt32, packetInSlave: UInt32, portStatusMaster: UInt32, portStatusSlave: UInt32,
                flowRemovedMaster: UInt32, flowRemovedSlave: UInt32) {
        self.packetInMaster = packetInMaster; self.packetInSlave = packetInSlave
        self.portStatusMaster = portStatusMaster; self.portStatusSlave = portStatusSlave
        self.flowRemovedMaster = flowRemovedMaster; self.flowRemovedSlave = flowRemovedSlave
    }

    /// The switch's defaults for OpenFlow 1.3 except that flows the controller deletes itself are
    /// not reported back: a FLOW_REMOVED is sent only when a flow times out (for media flows, a call
    /// gone silent). Each ended call would otherwise bring one FLOW_REMOVED per media flow, which
    /// ovs-vswitchd encodes and sipspan reads for nothing.
    public static let timeoutsOnly = AsyncConfiguration(
        packetInMaster: 0b011, packetInSlave: 0, portStatusMaster: 0b111, portStatusSlave: 0b111,
        flowRemovedMaster: 0b0011, flowRemovedSlave: 0)
}
