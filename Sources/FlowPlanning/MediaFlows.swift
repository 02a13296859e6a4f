import OpenFlow

/// One direction of a call's media to copy: UDP sent to `address` (4 or 16 bytes) at `port`.
public struct MediaDestination: Hashable, Comparable, Sendable {
    public let address: [UInt8]
    public let port: UInt16
    public init?(address: [UInt8], port: UInt16) {
        guard address.count == 4 || address.count == 16, port != 0 else { return nil }
        self.address = address; self.port = port
    }
    public static func < (a: MediaDestination, b: MediaDestination) -> Bool {
        a.address == b.address ? a.port < b.port : a.address.lexicographicallyPrecedes(b.address)
    }
}

/// The table-0 flows that copy one call's media as its watched NICs carry it, built like the SIP
/// copies: sent by the NIC (`in_port`), sent to its guest (`eth_dst`), and between two of the call's
/// watched NICs (once, to both NICs' targets). Each flow forwards (NORMAL) and marks the delivery set.
public enum MediaFlows {
    /// The flows for `destinations` on `nics` (the call's media NICs on one bridge), with `cookie`.
    public static func build(_ destinations: [MediaDestination], nics: [MediaNIC], cookie: UInt64) -> [Flow] {
        var flows: [Flow] = []
        func add(_ priority: UInt16, _ base: [OXMField], _ targets: [DeliveryTarget]) {
            let instructions: [Instruction] = [.applyActions([.normal]), .writeMetadata(value: deliveryID(targets), mask: .max), .gotoTable(1)]
            for d in destinations.sorted() {
                let ip: [OXMField] = d.address.count == 4 ? [.ethType(0x0800), .ipProto(17), .ipv4Dst(d.address)]
                                                           : [.ethType(0x86dd), .ipProto(17), .ipv6Dst(d.address)]
                flows.append(Flow(priority: priority, match: Match(base + ip + [.udpDst(d.port)]), instructions: instructions, cookie: cookie))
            }
        }
        for nic in nics {
            add(FlowPriority.mediaFromGuest, [.inPort(nic.port)], nic.targets)
            for mac in nic.macs { add(FlowPriority.mediaToGuest, [.ethDst(mac)], nic.targets) }
            for other in nics {
                guard let union = nic.pairTargets(to: other) else { continue }
                for mac in other.macs { add(FlowPriority.mediaBetweenGuests, [.inPort(nic.port), .ethDst(mac)], union) }
            }
        }
        return flows.sorted()
    }
}
