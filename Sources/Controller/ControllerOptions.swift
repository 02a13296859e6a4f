import FlowPlanning

/// Tunables of the controller runtime.
public struct ControllerOptions: Sendable {
    /// Send ECHO_REQUEST after this many idle seconds.
    public var echoInterval: Double = 5
    /// Close a connection that has sent nothing for this many seconds.
    public var deadPeerTimeout: Double = 15
    /// Close a connection that has not finished the handshake within this many seconds.
    public var handshakeTimeout: Double = 10
    /// Re-read every bridge's flows this often and repair drift (0 = never).
    public var auditInterval: Double = 60
    /// PACKET_INs per second and bridge accepted for MAC learning.
    public var packetInRate: Double = 100
    /// Connections held at once (bridges plus peers still in their handshake); more are refused.
    public var maximumConnections = 8192
    /// How flows are planned (monitor VLAN, learning snapshot size).
    public var planner = FlowPlanner()

    public init() {}
}
