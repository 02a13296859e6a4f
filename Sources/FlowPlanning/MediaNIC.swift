import OpenFlow
import Policy

/// A watched NIC on a bridge whose calls get per-call media copies (a session with `media:` watches
/// it): what a call's media flows for it need. Its copy flows send SIP to the controller too.
public struct MediaNIC: Hashable, Sendable {
    public let name: String
    public let port: UInt32
    /// The guest's MACs (the inventory's, else learned): copies of media sent to the guest match them.
    public let macs: [MACAddress]
    /// The most any of its sessions asks for (`rtp` over `rtcp`).
    public let selection: MediaCopy
    /// Where its media copies go (the union of its media sessions' targets), sorted.
    public let targets: [DeliveryTarget]

    public init(name: String, port: UInt32, macs: [MACAddress], selection: MediaCopy, targets: [DeliveryTarget]) {
        self.name = name; self.port = port; self.macs = macs; self.selection = selection; self.targets = targets
    }

    /// Where media sent by this NIC to `other`'s guest goes, when that is more than this NIC's own
    /// targets: the union of both (copied once, to both NICs' targets); nil when `other` has no MACs
    /// or adds nothing. One rule for the flows (`MediaFlows`) and the delivery sets they use.
    public func pairTargets(to other: MediaNIC) -> [DeliveryTarget]? {
        guard other.port != port, !other.macs.isEmpty else { return nil }
        let union = Set(targets).union(other.targets)
        return union.count > targets.count ? union.sorted() : nil
    }

    /// The metadata naming `targets` in table 1.
    public var deliveryID: UInt64 { FlowPlanning.deliveryID(targets) }
}
