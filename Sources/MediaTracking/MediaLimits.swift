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
    /// How long a SIP message that came before one it follows (a 200 OK before its INVITE) is held
    /// for it, nanoseconds: the kernel datapath may deliver PACKET_INs out of order (`EarlyMessages`).
    public var earlyMessageHold: UInt64
    /// Messages held so at once, and their bytes (SDP included); the oldest go first.
    public var earlyMessages: Int
    public var earlyMessageBytes: Int

    public init(flowsPerBridge: Int = 20_000, flowsPerNIC: Int = 4_000, idleTimeout: UInt16 = 60, packetInsPerSecond: Int = 50_000,
                calls: CallTable.Limits = CallTable.Limits(), earlyMessageHold: UInt64 = 2 * CallTable.Limits.second,
                earlyMessages: Int = 1024, earlyMessageBytes: Int = 4 << 20) {
        self.flowsPerBridge = flowsPerBridge; self.flowsPerNIC = flowsPerNIC; self.idleTimeout = idleTimeout
        self.packetInsPerSecond = packetInsPerSecond; self.calls = calls
        self.earlyMessageHold = earlyMessageHold; self.earlyMessages = earlyMessages; self.earlyMessageBytes = earlyMessageBytes
    }
}
