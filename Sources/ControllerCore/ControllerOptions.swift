import FlowPlanning
import SwitchProtocol

/// Tunables of the controller runtime.
public struct ControllerOptions: Sendable {
    /// Timeouts and bounds of each switch session.
    public var session = SessionConfiguration()
    /// Connections held at once (bridges plus peers still in their handshake); more are refused.
    /// Keep the process's file limit (systemd `LimitNOFILE`) above it.
    public var maximumConnections = 8192
    /// How flows are planned (monitor VLAN, learning snapshot size).
    public var planner = FlowPlanner()
    /// Datapath ids bound to TLS certificate common names: such a datapath is served only over TLS,
    /// by a switch presenting that certificate.
    public var datapathCertificates: [UInt64: String] = [:]

    public init() {}
}
