import OpenFlow
import Policy

/// The port of a bridge that feeds the SIP of media NICs to a sipspan on the same node: an OVS
/// internal port named `sipfeed…` (`sipfeed0` on `vmbr0`). When sipspan reads it (a raw socket on the
/// node's interface of that name and hardware address), the copy flows of media NICs output their SIP
/// to it, in the datapath like the monitors' copies, instead of sending each frame up to ovs-vswitchd
/// and on to sipspan as a PACKET_IN. Without it (a central sipspan, no such port) PACKET_IN is used.
public struct MediaFeedPort: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let port: UInt32
    public let hardwareAddress: MACAddress

    public init(name: String, port: UInt32, hardwareAddress: MACAddress) {
        self.name = name; self.port = port; self.hardwareAddress = hardwareAddress
    }

    /// The bridge's feed candidate: the lowest-named of its ports named as feeds (`MediaFeedName`), nil when none.
    public static func candidate(_ ports: some Sequence<MediaFeedPort>) -> MediaFeedPort? {
        ports.filter { MediaFeedName.matches($0.name) }.min { $0.name < $1.name }
    }

    public var description: String { "\(name) (port \(port), \(hardwareAddress))" }
}
