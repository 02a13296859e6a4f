import SIPMedia

/// The bounds of per-call media copies on one bridge. Past a flow budget a new call gets SIP
/// copies only (counted, logged once); the call table bounds the calls followed at all.
public struct MediaLimits: Hashable, Sendable {
    /// Media flows on one bridge.
    public var flowsPerBridge: Int
    /// Media flows for one watched NIC.
    public var flowsPerNIC: Int
    /// OpenFlow idle timeout of every media flow, seconds: OVS removes a call's flows once its media
    /// stops, even with sipspan down.
    public var idleTimeout: UInt16
    /// SIP packet-ins handled per second per bridge (a burst of one second's worth); beyond it
    /// frames are counted and not parsed.
    public var packetInsPerSecond: Int
    public var calls: CallTable.Limits

    public init(flowsPerBridge: Int = 20_000, flowsPerNIC: Int = 4_000, idleTimeout: UInt16 = 60, packetInsPerSecond: Int = 50_000,
                calls: CallTable.Limits = CallTable.Limits()) {
        self.flowsPerBridge = flowsPerBridge; self.flowsPerNIC = flowsPerNIC; self.idleTimeout = idleTimeout
        self.packetInsPerSecond = packetInsPerSecond; self.calls = calls
    }
}
