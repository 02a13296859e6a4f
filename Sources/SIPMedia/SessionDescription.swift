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
        guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(.notText) }
        // Lines end at LF, a CR before it dropped ("\r\n" or a bare "\n"). Split on the bytes: splitting
        // the String would break it into Characters first (most of the cost of a media NIC's PACKET_IN).
        let lines: [Substring] = text.utf8.split(separator: 10).compactMap { l in
            let line = l.last == 13 ? Substring(l.dropLast()) : Substring(l)
            return line.isEmpty ? nil : line
        }
        guard lines.first?.hasPrefix("v=0") == true else { return .failure(.notSDP) }
        var sessionAddress: String?
        struct Pending { var kind: String; var port: UInt16; var address: String?; var rtcp: (UInt16, String?)?; var mux = false }
        var pending: [Pending] = []
        for (n, line) in lines.enumerated() {
            guard line.count >= 2, line.dropFirst().first == "=" else { return .failure(.badLine(n + 1)) }
            let value = line.dropFirst(2)
            switch line.first {
            case "c":
                guard let a = connectionAddress(value) else { return .failure(.badLine(n + 1)) }
                if pending.isEmpty { sessionAddress = a } else { pending[pending.count - 1].address = a }
            case "m":
                guard pending.count < maximumMedia else { return .failure(.tooManyMedia) }
                let f = value.split(separator: " ", omittingEmptySubsequences: true)
                // m=<media> <port>[/<count>] <proto> <fmt> ...
                guard f.count >= 3, f[0].utf8.count <= maximumKindLength, let port = UInt16(f[1].split(separator: "/").first ?? "")
                else { return .failure(.badLine(n + 1)) }
                pending.append(Pending(kind: String(f[0]), port: port))
            case "a" where !pending.isEmpty:
                if value == "rtcp-mux" { pending[pending.count - 1].mux = true }
                else if value.hasPrefix("rtcp:") {
                    // a=rtcp:<port> [IN IP4|IP6 <address>]
                    let f = value.dropFirst(5).split(separator: " ", omittingEmptySubsequences: true)
                    guard let p = f.first.flatMap({ UInt16($0) }) else { return .failure(.badLine(n + 1)) }
                    let addr = f.count == 4 && f[1] == "IN" ? (canonicalIPAddress(String(f[3])) ?? "") : nil
                    pending[pending.count - 1].rtcp = (p, addr)
                }
            default:
                continue
            }
        }
        var media: [Media] = []
        for p in pending {
            guard let address = p.address ?? sessionAddress else { return .failure(.notSDP) }
            let rtcpPort = p.rtcp?.0 ?? (p.port == 0 ? 0 : (p.port == UInt16.max ? p.port : p.port + 1))
            media.append(Media(kind: p.kind, address: address, rtpPort: p.port, rtcpAddress: p.rtcp?.1 ?? address, rtcpPort: rtcpPort, rtcpMux: p.mux))
        }
        return .success(SessionDescription(media: media))
    }

    /// `IN IP4 192.0.2.1` or `IN IP6 2001:DB8::1` (a multicast TTL suffix is dropped) in canonical
    /// form; a host name (RFC 4566 allows one) is "": the media there is not copied. Nil: not a c= line.
    private static func connectionAddress(_ v: Substring) -> String? {
        let f = v.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count == 3, f[0] == "IN", f[1] == "IP4" || f[1] == "IP6" else { return nil }
        let a = f[2].split(separator: "/").first.map(String.init) ?? ""
        guard !a.isEmpty, a.utf8.allSatisfy({ isHostCharacter($0) }) else { return nil }
        return canonicalIPAddress(a) ?? ""
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
