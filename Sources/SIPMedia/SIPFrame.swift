/// The UDP or TCP payload of an Ethernet frame, with its addresses: what a packet-in carrying SIP
/// holds (Ethernet II, up to two VLAN tags, IPv4 or IPv6, UDP or TCP). Pure and bounded; checksums
/// are not verified (offloads leave them unset) and fragments are refused, not reassembled.
public struct SIPFrame: Hashable, Sendable {
    public enum Transport: Hashable, Sendable { case udp, tcp }

    public let transport: Transport
    /// The IP addresses as in the header (4 or 16 bytes each) and the ports: the text forms below
    /// are made only when asked for (the media tracker needs the payload only).
    let sourceAddress: ArraySlice<UInt8>, destinationAddress: ArraySlice<UInt8>
    let sourcePort: UInt16, destinationPort: UInt16
    /// Addresses in `canonicalIPAddress` form, so they compare equal to SDP addresses.
    public var source: MediaEndpoint { MediaEndpoint(address: IPText.text(sourceAddress), port: sourcePort) }
    public var destination: MediaEndpoint { MediaEndpoint(address: IPText.text(destinationAddress), port: destinationPort) }
    /// The transport payload: a slice of the frame (its indices are the frame's).
    public let payload: ArraySlice<UInt8>

    public static let maximumVLANTags = 2
    public static let maximumExtensionHeaders = 8

    /// Decodes one whole frame. Every length is checked against the bytes there and the length
    /// that encloses it; Ethernet padding after the IP packet is ignored.
    public static func decode(_ frame: [UInt8]) -> Result<SIPFrame, FrameDecodeError> {
        var offset = 12
        guard var type = u16(frame, offset) else { return .failure(.truncated) }
        var tags = 0
        while type == 0x8100 || type == 0x88a8 {
            guard tags < maximumVLANTags else { return .failure(.tooManyVLANTags) }
            tags += 1
            offset += 4
            guard let inner = u16(frame, offset) else { return .failure(.truncated) }
            type = inner
        }
        offset += 2
        let ip: Result<IPPacket, FrameDecodeError>
        switch type {
        case 0x0800: ip = ipv4(frame, at: offset)
        case 0x86dd: ip = ipv6(frame, at: offset)
        default: return .failure(.notIP)
        }
        return ip.flatMap { transport(frame, $0) }
    }

    /// Where an IP packet's transport header starts and its payload ends, and its addresses.
    private struct IPPacket {
        let proto: UInt8
        let source: Range<Int>
        let destination: Range<Int>
        let start: Int
        let end: Int
    }

    private static func ipv4(_ f: [UInt8], at o: Int) -> Result<IPPacket, FrameDecodeError> {
        guard f.count >= o + 20 else { return .failure(.truncated) }
        guard f[o] >> 4 == 4 else { return .failure(.badHeader) }
        let headerLength = Int(f[o] & 0x0f) * 4
        guard headerLength >= 20 else { return .failure(.badHeader) }
        guard f.count >= o + headerLength else { return .failure(.truncated) }
        let fragment = UInt16(f[o + 6]) << 8 | UInt16(f[o + 7])
        guard fragment & 0x2000 == 0, fragment & 0x1fff == 0 else { return .failure(.fragment) }
        let total = Int(UInt16(f[o + 2]) << 8 | UInt16(f[o + 3]))
        guard total >= headerLength else { return .failure(.badLength) }
        guard f.count >= o + total else { return .failure(.truncated) }
        return .success(IPPacket(proto: f[o + 9], source: (o + 12)..<(o + 16), destination: (o + 16)..<(o + 20),
                                 start: o + headerLength, end: o + total))
    }

    private static func ipv6(_ f: [UInt8], at o: Int) -> Result<IPPacket, FrameDecodeError> {
        guard f.count >= o + 40 else { return .failure(.truncated) }
        guard f[o] >> 4 == 6 else { return .failure(.badHeader) }
        let end = o + 40 + Int(UInt16(f[o + 4]) << 8 | UInt16(f[o + 5]))
        guard f.count >= end else { return .failure(.truncated) }
        var next = f[o + 6]
        var p = o + 40
        var extensions = 0
        // Hop-by-hop (0), routing (43) and destination options (60) are skipped; a fragment header (44) refuses.
        while next == 0 || next == 43 || next == 60 || next == 44 {
            guard next != 44 else { return .failure(.fragment) }
            guard extensions < maximumExtensionHeaders else { return .failure(.tooManyExtensionHeaders) }
            extensions += 1
            guard p + 2 <= end else { return .failure(.badLength) }
            let length = (Int(f[p + 1]) + 1) * 8
            guard p + length <= end else { return .failure(.badLength) }
            next = f[p]
            p += length
        }
        return .success(IPPacket(proto: next, source: (o + 8)..<(o + 24), destination: (o + 24)..<(o + 40), start: p, end: end))
    }

    private static func transport(_ f: [UInt8], _ ip: IPPacket) -> Result<SIPFrame, FrameDecodeError> {
        let p = ip.start
        let available = ip.end - p
        let kind: Transport
        let payload: Range<Int>
        switch ip.proto {
        case 17:
            guard available >= 8, let length = u16(f, p + 4).map(Int.init) else { return .failure(.badLength) }
            guard length >= 8, length <= available else { return .failure(.badLength) }
            kind = .udp
            payload = (p + 8)..<(p + length)
        case 6:
            guard available >= 20 else { return .failure(.badLength) }
            let dataOffset = Int(f[p + 12] >> 4) * 4
            guard dataOffset >= 20, dataOffset <= available else { return .failure(.badLength) }
            kind = .tcp
            payload = (p + dataOffset)..<ip.end
        default:
            return .failure(.notUDPOrTCP)
        }
        guard let sourcePort = u16(f, p), let destinationPort = u16(f, p + 2) else { return .failure(.badLength) }
        return .success(SIPFrame(transport: kind, sourceAddress: f[ip.source], destinationAddress: f[ip.destination],
                                 sourcePort: sourcePort, destinationPort: destinationPort, payload: f[payload]))
    }

    /// A big-endian 16-bit field, or nil past the end.
    private static func u16(_ f: [UInt8], _ i: Int) -> UInt16? {
        guard i >= 0, i + 1 < f.count else { return nil }
        return UInt16(f[i]) << 8 | UInt16(f[i + 1])
    }
}

/// Why a frame holds no UDP or TCP payload sipspan can read.
public enum FrameDecodeError: Error, Hashable, Sendable {
    /// The frame ends inside a header, or before the length its IP header announces.
    case truncated
    /// Neither IPv4 nor IPv6 (after at most two VLAN tags).
    case notIP
    /// More than `SIPFrame.maximumVLANTags` VLAN tags.
    case tooManyVLANTags
    /// An IP version that does not match its EtherType, or an IPv4 header length under 20.
    case badHeader
    /// An IPv4 fragment (MF set or an offset) or an IPv6 fragment header: not reassembled.
    case fragment
    /// More than `SIPFrame.maximumExtensionHeaders` IPv6 extension headers.
    case tooManyExtensionHeaders
    /// The IP packet carries neither UDP nor TCP.
    case notUDPOrTCP
    /// A length field that contradicts the length enclosing it (IPv4 total length under its header,
    /// an IPv6 extension header, UDP length or TCP data offset past the IP payload).
    case badLength
}
