/// The media an SDP offer or answer (RFC 4566, 3264) negotiates, as far as copying it needs: per
/// `m=` line the transport address of its RTP and of its RTCP (RFC 3605 `a=rtcp:`, else RTP port + 1)
/// and whether it multiplexes RTCP on the RTP port (RFC 5761 `a=rtcp-mux`). Pure and bounded.
public struct SessionDescription: Hashable, Sendable {
    /// One `m=` line.
    public struct Media: Hashable, Sendable {
        public let kind: String
        /// The address media is received at: the media-level `c=`, else the session-level one, in
        /// `canonicalIPAddress` form; empty when the SDP names a host instead (nothing to copy).
        public let address: String
        public let rtpPort: UInt16
        /// The RTCP address (RFC 3605 `a=rtcp:` or `address`), canonical; empty when it is a host name.
        public let rtcpAddress: String
        public let rtcpPort: UInt16
        public let rtcpMux: Bool
        /// Port 0, address 0.0.0.0 / :: or a host name: the stream is disabled, on hold, or at an
        /// address sipspan cannot match (nothing to copy).
        public var isActive: Bool { rtpPort != 0 && !address.isEmpty && address != "0.0.0.0" && address != "::" }
    }

    public let media: [Media]

    public static let maximumSize = 32 * 1024
    public static let maximumMedia = 16
    /// The longest `m=` media type kept (audio, video, text, application, message, image).
    public static let maximumKindLength = 32

    public enum ParseError: Error, Hashable, Sendable {
        case tooLarge, notText, notSDP, tooManyMedia, badLine(Int)
    }

    public static func parse(_ bytes: [UInt8]) -> Result<SessionDescription, ParseError> {
        guard bytes.count <= maximumSize else { return .failure(.tooLarge) }
        guard isUTF8(bytes[...]) else { return .failure(.notText) }
        // One pass over the bytes, line by line (LF, a CR before it dropped; empty lines skipped):
        // a media NIC's SDP offers and answers all come through here.
        var sessionAddress: String?
        struct Pending { var kind: String; var port: UInt16; var address: String?; var rtcp: (UInt16, String?)?; var mux = false }
        var pending: [Pending] = []
        var n = 0
        var from = bytes.startIndex
        while from < bytes.endIndex {
            var lf = from
            while lf < bytes.endIndex && bytes[lf] != 10 { lf += 1 }
            let next = lf + 1
            let end = lf > from && bytes[lf - 1] == 13 ? lf - 1 : lf
            defer { from = next }
            guard end > from else { continue }
            let line = bytes[from..<end]
            n += 1
            if n == 1 { guard line.starts(with: versionZero) else { return .failure(.notSDP) } }
            // Lines are `<type>=<value>` with a one-byte type (RFC 4566 5); a line whose type is not
            // ASCII is of no type sipspan reads: skipped, as unknown types are.
            if line[from] >= 0x80 { continue }
            guard line.count >= 2, line[from + 1] == equals else { return .failure(.badLine(n)) }
            let value = line[(from + 2)...]
            switch line[from] {
            case UInt8(ascii: "c"):
                guard let a = connectionAddress(value) else { return .failure(.badLine(n)) }
                if pending.isEmpty { sessionAddress = a } else { pending[pending.count - 1].address = a }
            case UInt8(ascii: "m"):
                guard pending.count < maximumMedia else { return .failure(.tooManyMedia) }
                let f = fields(value)
                // m=<media> <port>[/<count>] <proto> <fmt> ...
                guard f.count >= 3, f[0].count <= maximumKindLength, let port = number(firstPiece(f[1], slash)) else { return .failure(.badLine(n)) }
                pending.append(Pending(kind: String(decoding: f[0], as: UTF8.self), port: port))
            case UInt8(ascii: "a") where !pending.isEmpty:
                if value.elementsEqual(rtcpMux) { pending[pending.count - 1].mux = true }
                else if value.starts(with: rtcpColon) {
                    // a=rtcp:<port> [IN IP4|IP6 <address>]
                    let f = fields(value.dropFirst(rtcpColon.count))
                    guard let p = f.first.flatMap(number) else { return .failure(.badLine(n)) }
                    let addr = f.count == 4 && f[1].elementsEqual(inToken) ? (canonicalIPAddress(bytes: f[3]) ?? "") : nil
                    pending[pending.count - 1].rtcp = (p, addr)
                }
            default:
                continue
            }
        }
        guard n > 0 else { return .failure(.notSDP) }
        var media: [Media] = []
        media.reserveCapacity(pending.count)
        for p in pending {
            guard let address = p.address ?? sessionAddress else { return .failure(.notSDP) }
            let rtcpPort = p.rtcp?.0 ?? (p.port == 0 ? 0 : (p.port == UInt16.max ? p.port : p.port + 1))
            media.append(Media(kind: p.kind, address: address, rtpPort: p.port, rtcpAddress: p.rtcp?.1 ?? address, rtcpPort: rtcpPort, rtcpMux: p.mux))
        }
        return .success(SessionDescription(media: media))
    }

    private static let versionZero = Array("v=0".utf8), rtcpMux = Array("rtcp-mux".utf8), rtcpColon = Array("rtcp:".utf8)
    private static let inToken = Array("IN".utf8), ip4 = Array("IP4".utf8), ip6 = Array("IP6".utf8)
    private static let equals = UInt8(ascii: "="), space = UInt8(ascii: " "), slash = UInt8(ascii: "/")

    /// The space-separated fields of a line's value (runs of spaces are one separator).
    private static func fields(_ v: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        v.split(separator: space, omittingEmptySubsequences: true)
    }

    /// The first non-empty piece of `b` between `separator`s (what `split(separator:).first` gives), or empty.
    private static func firstPiece(_ b: ArraySlice<UInt8>, _ separator: UInt8) -> ArraySlice<UInt8> {
        let rest = b.drop { $0 == separator }
        return rest.prefix { $0 != separator }
    }

    /// A decimal port as Swift's `UInt16(_: String)` reads it (an optional sign, digits, no overflow).
    private static func number(_ b: ArraySlice<UInt8>) -> UInt16? {
        guard b.count <= 16 else { return nil }
        return UInt16(String(decoding: b, as: UTF8.self))
    }

    /// `IN IP4 192.0.2.1` or `IN IP6 2001:DB8::1` (a multicast TTL suffix is dropped) in canonical
    /// form; a host name (RFC 4566 allows one) is "": the media there is not copied. Nil: not a c= line.
    private static func connectionAddress(_ v: ArraySlice<UInt8>) -> String? {
        let f = fields(v)
        guard f.count == 3, f[0].elementsEqual(inToken), f[1].elementsEqual(ip4) || f[1].elementsEqual(ip6) else { return nil }
        let a = firstPiece(f[2], slash)
        guard !a.isEmpty, a.allSatisfy({ isHostCharacter($0) }) else { return nil }
        return canonicalIPAddress(bytes: a) ?? ""
    }

    /// Letters, digits, '.', '-' and ':': what an address or a host name is made of.
    private static func isHostCharacter(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5a, 0x61...0x7a, UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"): true
        default: false
        }
    }
}

/// One direction of copied media: where its packets are sent to.
public struct MediaEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// In `canonicalIPAddress` form.
    public let address: String
    public let port: UInt16
    public init(address: String, port: UInt16) {
        self.address = address
        self.port = port
    }
    public var description: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
}

public enum MediaSelection: String, Sendable { case rtcp, rtp }

/// The endpoints to copy for a completed offer/answer, both directions: each side's RTCP (and RTP
/// with `.rtp`). With `a=rtcp-mux` in both offer and answer RTCP travels on the RTP port, so that
/// port is copied for `.rtcp` too. Streams on hold or disabled (port 0, 0.0.0.0) copy nothing, nor
/// does an address given as a host name.
public func mediaEndpoints(offer: SessionDescription, answer: SessionDescription, selection: MediaSelection) -> Set<MediaEndpoint> {
    var out = Set<MediaEndpoint>()
    for (o, a) in zip(offer.media, answer.media) where o.isActive && a.isActive {
        let mux = o.rtcpMux && a.rtcpMux
        for side in [o, a] {
            if mux || selection == .rtp { out.insert(MediaEndpoint(address: side.address, port: side.rtpPort)) }
            if !mux, !side.rtcpAddress.isEmpty { out.insert(MediaEndpoint(address: side.rtcpAddress, port: side.rtcpPort)) }
        }
    }
    return out
}
