import FlowPlanning
import MediaTracking
import OpenFlow
import Policy
import ProxmoxInventory

/// Timeouts and bounds of one switch session. Every state that waits for the peer has a deadline here.
public struct SessionConfiguration: Hashable, Sendable {
    /// Send ECHO_REQUEST after this many idle seconds.
    public var echoInterval: Double = 5
    /// An echo request unanswered this long makes the connection lose its datapath to a newcomer.
    public var echoReplyTimeout: Double = 2
    /// Close a connection that has sent nothing for this many seconds.
    public var deadPeerTimeout: Double = 15
    /// HELLO and FEATURES_REPLY must arrive within this many seconds of the connection.
    public var handshakeTimeout: Double = 10
    /// The replies to a sync (port list, flow stats) must be complete within this many seconds.
    public var syncTimeout: Double = 10
    /// A barrier must be answered within this many seconds.
    public var barrierTimeout: Double = 10
    /// Re-read the bridge's flows this often and repair drift (0 = never).
    public var auditInterval: Double = 60
    /// PACKET_INs per second accepted for MAC learning.
    public var packetInRate: Double = 100
    /// OVS numbers ports below 65,280.
    public var maximumPorts = 65_536
    /// Flows one flow-stats reply may hold (sipspan's and the operator's together).
    public var maximumFlows = 100_000
    /// Send each change as one atomic OpenFlow bundle (ONF extension, which OVS implements for 1.3),
    /// so a frame meets the old flow set or the new one, never a half-applied one. A switch that
    /// refuses bundles gets plain flow_mods from then on.
    public var atomicChanges = true
    /// Per-call media copies: budgets, idle timeout, packet-in rate, call table bounds.
    public var media = MediaLimits()

    public init() {}
}

/// What the planner needs besides the bridge's own state: the policy in force (tags and pools
/// already resolved), what Proxmox knows, how to plan, and this controller's role.
public struct PlanningContext: Sendable {
    public var policy: PolicySet
    public var inventory: Inventory
    public var planner: FlowPlanner
    /// `.equal` (the default: no role request), `.master` (writes; requested with `generationID`)
    /// or `.slave` (a standby: reads, never writes).
    public var role: ControllerRole = .equal
    /// The generation id for role requests made now: wall-clock milliseconds, so the latest request
    /// wins across instances.
    public var generationID: UInt64 = 0

    public init(policy: PolicySet, inventory: Inventory = .empty, planner: FlowPlanner = FlowPlanner()) {
        self.policy = policy; self.inventory = inventory; self.planner = planner
    }
}
