import OpenFlow
import Policy

/// The port of a bridge that feeds the SIP of media NICs to a sipspan on the same node: an OVS
/// internal port named `sipfeed…` (`sipfeed0` on `vmbr0`). When sipspan reads it (a raw socket on the
/// node's interface of that name and hardware address), the copy flows of media NICs output their SIP
/// to it, in the datapath like the monitors' copies, instead of sending each frame up to ovs-vswitchd
/// and on to sipspan as a PACKET_IN. Without it (a central sipspan, no such port) PACKET_IN is used.
public struct MediaFeedPort: Hashable, Sendable, CustomStringConvertible {
    /// Ports whose name starts so are feed candidates.
    public static let namePrefix = MediaFeedName.prefix

    public let name: String
    public let port: UInt32
    public let hardwareAddress: MACAddress

    public init(name: String, port: UInt32, hardwareAddress: MACAddress) {
        self.name = name; self.port = port; self.hardwareAddress = hardwareAddress
    }

    /// The bridge's feed candidate: the lowest-named port with the prefix (nil when none).
    public static func candidate(_ ports: [(name: String, port: UInt32, hardwareAddress: MACAddress)]) -> MediaFeedPort? {
        ports.filter { MediaFeedName.matches($0.name) }.min { $0.name < $1.name }
            .map { MediaFeedPort(name: $0.name, port: $0.port, hardwareAddress: $0.hardwareAddress) }
    }

    public var description: String { "\(name) (port \(port), \(hardwareAddress))" }
}
