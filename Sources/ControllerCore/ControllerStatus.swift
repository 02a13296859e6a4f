import MediaTracking
import SwitchProtocol

/// One bridge connection as `sipspan status` shows it.
public struct BridgeStatus: Codable, Sendable {
    public let datapathID: String?
    public let bridge: String
    /// The Proxmox node the bridge belongs to (from its peer address and `.members`), if known.
    public let node: String?
    public let peer: String
    public let state: SessionPhase
    /// Whether the bridge has held its complete flow set (barrier-confirmed) on this connection.
    public let confirmed: Bool
    public let connectedSeconds: Double
    public let ports: Int
    public let flows: Int
    public let watchedPorts: [String]
    public let monitorPorts: [String]
    /// Watched guests as `101 (sip-proxy-1)`.
    public let watchedGuests: [String]
    /// Frames copied per watched guest (`101 (sip-proxy-1)`), from the flow counters of the last sync or audit.
    public let copiedFrames: [String: Int]
    /// Whether changes go to this bridge as atomic OpenFlow bundles (false once it refused one).
    public let atomicChanges: Bool
    /// Whether this instance writes this bridge's flows (false as a standby, when another controller
    /// is master, or when a newer sipspan's flows are there).
    public let writing: Bool
    public let learnedMACs: Int
    public let flowModsSent: Int
    public let notices: [String]
    /// Per-call media copies on this bridge (nil when no watched NIC of it has `media:`).
    public let media: MediaStatus?

    /// `node/bridge` when the node is known, else the bridge's name.
    public var displayName: String { BridgeName.display(node: node, bridge: bridge) }
}

/// Per-call media copies on one bridge.
public struct MediaStatus: Codable, Sendable {
    /// Calls with media flows now, and calls followed (offer/answer pending or complete).
    public let activeCalls: Int
    public let trackedCalls: Int
    /// Media flows of those calls, in total and per watched guest NIC.
    public let flows: Int
    public let flowsByNIC: [String: Int]
    /// Media flows of a previous sipspan found on the bridge, left to expire by their idle timeout.
    public let adoptedFlows: Int
    public let counters: MediaCounters
    /// The media feed port sipspan reads the media NICs' SIP from; nil: PACKET_IN.
    public let feed: String?
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
    /// Where sipspan listens for switches (bound addresses, `ssl:` marked).
    public let listening: [String]
    /// The status endpoints it serves (bound addresses).
    public let statusEndpoints: [String]
    /// Whether the inventory's source (pmxcfs) is mounted, and how old the inventory in force is.
    public let pmxcfs: PmxcfsStatus
    /// This instance's OpenFlow role: `equal`, `master` or `slave`.
    public let role: String
    /// Counts since start: connects, disconnects, flow_mods, confirmed changes, reloads, refusals, …
    public let totals: ControllerTotals
}

/// The controller's counters since start, by name (as in `/metrics`, without the prefix).
public struct ControllerTotals: Codable, Sendable, Equatable {
    public var connects = 0, disconnects = 0, flowModsSent = 0, changesApplied = 0, switchErrors = 0, badPeers = 0
    public var claimsRefused = 0, macsLearned = 0, reloadsApplied = 0, reloadsRejected = 0

    public init() {}

    init(_ values: [(ControllerCounter, Int)]) {
        for (c, n) in values {
            switch c {
            case .connects: connects = n
            case .disconnects: disconnects = n
            case .flowModsSent: flowModsSent = n
            case .changesApplied: changesApplied = n
            case .switchErrors: switchErrors = n
            case .badPeers: badPeers = n
            case .claimsRefused: claimsRefused = n
            case .macsLearned: macsLearned = n
            case .reloadsApplied: reloadsApplied = n
            case .reloadsRejected: reloadsRejected = n
            }
        }
    }
}

/// How a bridge is named in logs, status and metrics.
public enum BridgeName {
    /// `pve1/vmbr0` when the node is known, else `vmbr0`.
    public static func display(node: String?, bridge: String) -> String {
        node.map { "\($0)/\(bridge)" } ?? bridge
    }
}

/// The inventory's source as `sipspan status` shows it.
public struct PmxcfsStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Read from a mounted pmxcfs.
        case mounted
        /// pmxcfs is not mounted (pve-cluster stopped or restarting): the last inventory stays in force.
        case unavailable
        /// No inventory (`--pve none`).
        case none
    }
    public let state: State
    public let reason: String?
    /// The `--pve` directory.
    public let root: String?
    /// How long pmxcfs has been in this state.
    public let sinceSeconds: Double?
    /// Seconds since the inventory in force was last read from a mounted pmxcfs.
    public let inventoryAgeSeconds: Double?
}
