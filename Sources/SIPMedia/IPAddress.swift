/// The one text form of an IP address that SDP and frames are compared in: IPv4 dotted decimal,
/// IPv6 as RFC 5952 writes it (lowercase, no leading zeros, the longest run of two or more zero
/// groups as `::`, the first on a tie; an IPv4-mapped address as `::ffff:a.b.c.d`).
/// Returns nil for anything else (names, zone IDs, prefixes, leading zeros in a dotted quad).
public func canonicalIPAddress(_ s: String) -> String? {
    canonicalIPAddress(bytes: Array(s.utf8)[...])
}

/// `canonicalIPAddress` of text given as its UTF-8 bytes.
public func canonicalIPAddress(bytes: ArraySlice<UInt8>) -> String? {
    // The longest valid text is 45 bytes ("0000:0000:0000:0000:0000:ffff:255.255.255.255").
    guard !bytes.isEmpty, bytes.count <= 45 else { return nil }
    if bytes.contains(IPText.colon) { return IPText.parseIPv6(bytes).map(IPText.ipv6) }
    return IPText.parseIPv4(bytes).map(IPText.ipv4)
}

/// Whether `b` is valid UTF-8: a scan for the all-ASCII case (SIP and SDP text nearly always are),
/// the standard library's validation otherwise.
func isUTF8(_ b: ArraySlice<UInt8>) -> Bool {
    if b.allSatisfy({ $0 < 0x80 }) { return true }
    return String(validating: b, as: UTF8.self) != nil
}

/// The 4 or 16 bytes of an IPv4 or IPv6 address in text (the forms `canonicalIPAddress` accepts),
/// nil for anything else.
public func ipAddressBytes(_ s: String) -> [UInt8]? {
    let bytes = Array(s.utf8)
    guard !bytes.isEmpty, bytes.count <= 45 else { return nil }
    if bytes.contains(IPText.colon) {
        return IPText.parseIPv6(bytes[...]).map { groups in groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] } }
    }
    return IPText.parseIPv4(bytes[...])
}

/// Parsing and formatting of IP address text, shared by SDP and frame decoding.
enum IPText {
    static let colon = UInt8(ascii: ":")
    static let dot = UInt8(ascii: ".")

    /// Dotted decimal from four bytes.
    static func ipv4(_ b: some Collection<UInt8>) -> String {
        // At most 15 bytes, written on the stack (a small String: no allocation).
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4 * max(b.count, 1)) { out in
            var n = 0
            for (k, x) in b.enumerated() {
                if k > 0 { out[n] = dot; n += 1 }
                if x >= 100 { out[n] = 0x30 + x / 100; n += 1 }
                if x >= 10 { out[n] = 0x30 + x / 10 % 10; n += 1 }
                out[n] = 0x30 + x % 10; n += 1
            }
            return String(decoding: UnsafeBufferPointer(rebasing: out[..<n]), as: UTF8.self)
        }
    }

    /// The text of a 4- or 16-byte address as an IP header holds it.
    static func text(_ b: ArraySlice<UInt8>) -> String {
        guard b.count == 16 else { return ipv4(b) }
        let s = b.startIndex
        return ipv6((0..<8).map { UInt16(b[s + 2 * $0]) << 8 | UInt16(b[s + 2 * $0 + 1]) })
    }

    /// RFC 5952 text from eight 16-bit groups.
    static func ipv6(_ g: [UInt16]) -> String {
        guard g.count == 8 else { return "" }
        if g[0..<5].allSatisfy({ $0 == 0 }), g[5] == 0xffff {
            return "::ffff:" + ipv4([UInt8(g[6] >> 8), UInt8(g[6] & 0xff), UInt8(g[7] >> 8), UInt8(g[7] & 0xff)])
        }
        var best = (start: 0, length: 0)
        var i = 0
        while i < 8 {
            guard g[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8, g[j] == 0 { j += 1 }
            if j - i > best.length { best = (i, j - i) }
            i = j
        }
        let hex = { (x: UInt16) in String(x, radix: 16) }
        guard best.length >= 2 else { return g.map(hex).joined(separator: ":") }
        let head = g[..<best.start].map(hex).joined(separator: ":")
        let tail = g[(best.start + best.length)...].map(hex).joined(separator: ":")
        return head + "::" + tail
    }

    /// Four bytes from `a.b.c.d`: decimal fields 0–255 without leading zeros.
    static func parseIPv4(_ b: ArraySlice<UInt8>) -> [UInt8]? {
        let fields = b.split(separator: dot, omittingEmptySubsequences: false)
        guard fields.count == 4 else { return nil }
        var out: [UInt8] = []
        for f in fields {
            guard (1...3).contains(f.count), f.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            guard f.count == 1 || f.first != 0x30 else { return nil }
            let v = f.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    /// Eight groups from IPv6 text (RFC 4291 2.2: `::` once, an IPv4 tail last).
    static func parseIPv6(_ b: ArraySlice<UInt8>) -> [UInt16]? {
        var doubleColon: Int?
        var i = b.startIndex
        while i + 1 < b.endIndex {
            if b[i] == colon, b[i + 1] == colon {
                guard doubleColon == nil else { return nil }
                doubleColon = i
                i += 2
            } else {
                i += 1
            }
        }
        guard let dc = doubleColon else {
            guard let all = groups(b, ipv4Tail: true), all.count == 8 else { return nil }
            return all
        }
        guard let left = groups(b[b.startIndex..<dc], ipv4Tail: false),
              let right = groups(b[(dc + 2)...], ipv4Tail: true),
              left.count + right.count <= 7 else { return nil }
        return left + Array(repeating: 0, count: 8 - left.count - right.count) + right
    }

    /// The colon-separated groups of one side of `::` (empty text: none).
    private static func groups(_ b: ArraySlice<UInt8>, ipv4Tail: Bool) -> [UInt16]? {
        guard !b.isEmpty else { return [] }
        let fields = b.split(separator: colon, omittingEmptySubsequences: false)
        guard fields.count <= 8 else { return nil }
        var out: [UInt16] = []
        for (k, f) in fields.enumerated() {
            if ipv4Tail, k == fields.count - 1, f.contains(dot) {
                guard let v4 = parseIPv4(f) else { return nil }
                out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                continue
            }
            guard (1...4).contains(f.count) else { return nil }
            var v: UInt16 = 0
            for c in f {
                guard let d = hexDigit(c) else { return nil }
                v = v << 4 | UInt16(d)
            }
            out.append(v)
        }
        return out
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
