/// What a bridge's media tracking has done since its connection began (status and /metrics).
public struct MediaCounters: Hashable, Sendable, Codable {
    /// SIP frames received from the copy flows (PACKET_IN).
    public var packetIns = 0
    /// SIP frames read from the media feed port (instead of PACKET_IN).
    public var fedFrames = 0
    /// Of those (both), dropped by the rate limit.
    public var packetInsLimited = 0
    /// Frames that were not a whole SIP message over UDP/TCP (fragments, other payloads).
    public var notSIP = 0
    /// SDP bodies that did not parse (the call kept what it had).
    public var sdpFailures = 0
    /// SIP messages that came before one they follow (a 200 OK before its INVITE: PACKET_INs
    /// reordered by the kernel datapath's upcall threads), held and applied once it came.
    public var reorderedMessages = 0
    /// Calls whose media copies started / ended.
    public var callsStarted = 0
    public var callsEnded = 0
    /// Calls that got SIP copies only: over a flow budget, or the call table full.
    public var refusedBudget = 0
    public var refusedTable = 0
    /// Media flows added and removed (by sipspan, or by OVS's idle timeout).
    public var flowsAdded = 0
    public var flowsRemoved = 0
    public var flowsExpired = 0
    public init() {}
}
