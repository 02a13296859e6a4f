import SwitchProtocol

/// One bridge connection as `sipspan status` shows it.
public struct BridgeStatus: Codable, Sendable {
    public let datapathID: String?
    public let bridge: String
    /// The Proxmox node the bridge belongs to (from its peer address and `.members`), if known.
    public let node: String?
    public let peer: String
    public let state: SessionPhase
    public let connectedSeconds: Double
    public let ports: Int
    public let flows: Int
    public let watchedPorts: [String]
    public let monitorPorts: [String]
    /// Watched guests as `101 (sip-proxy-1)`.
    public let watchedGuests: [String]
    /// Frames copied per watched guest (`101 (sip-proxy-1)`), from the flow counters of the last sync or audit.
    public let copiedFrames: [String: Int]
    public let learnedMACs: Int
    public let flowModsSent: Int
    public let notices: [String]

    /// `node/bridge` when the node is known, else the bridge's name.
    public var displayName: String { BridgeName.display(node: node, bridge: bridge) }
}

/// The whole controller as `sipspan status` shows it.
public struct ControllerStatus: Codable, Sendable {
    public let uptimeSeconds: Double
    public let sessions: [String]
    public let bridges: [BridgeStatus]
    /// Warnings about the policy against the cluster (`FILE:LINE:COLUMN: warning: …`).
    public let warnings: [String]
    /// Guests in the Proxmox inventory (0 without one).
    public let inventoryGuests: Int
}

/// How a bridge is named in logs, status and metrics.
public enum BridgeName {
    /// `pve1/vmbr0` when the node is known, else `vmbr0`.
    public static func display(node: String?, bridge: String) -> String {
        node.map { "\($0)/\(bridge)" } ?? bridge
    }
}
