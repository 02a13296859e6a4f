import Foundation

/// One Ethernet frame read from a pcap file, with the fields the tests compare.
struct CapturedFrame: Hashable, CustomStringConvertible {
    let bytes: [UInt8]
    var vlan: Int? = nil
    var etherType: Int = 0
    var ipProto: Int? = nil
    var src: String = ""
    var dst: String = ""
    var sport: Int? = nil
    var dport: Int? = nil

    init(_ b: [UInt8]) {
        bytes = b
        guard b.count >= 14 else { return }
        var off = 12
        var et = Int(b[off]) << 8 | Int(b[off + 1])
        if et == 0x8100, b.count >= 18 {
            vlan = (Int(b[14]) << 8 | Int(b[15])) & 0x0fff
            off = 16
            et = Int(b[off]) << 8 | Int(b[off + 1])
        }
        etherType = et
        let l3 = off + 2
        var l4: Int? = nil
        if et == 0x0800, b.count >= l3 + 20 {
            ipProto = Int(b[l3 + 9])
            src = b[(l3 + 12)..<(l3 + 16)].map { String($0) }.joined(separator: ".")
            dst = b[(l3 + 16)..<(l3 + 20)].map { String($0) }.joined(separator: ".")
            l4 = l3 + Int(b[l3] & 0x0f) * 4
        } else if et == 0x86dd, b.count >= l3 + 40 {
            ipProto = Int(b[l3 + 6])
            src = hex(Array(b[(l3 + 8)..<(l3 + 24)]))
            dst = hex(Array(b[(l3 + 24)..<(l3 + 40)]))
            l4 = l3 + 40
        }
        if let l4, ipProto == 6 || ipProto == 17, b.count >= l4 + 4 {
            sport = Int(b[l4]) << 8 | Int(b[l4 + 1])
            dport = Int(b[l4 + 2]) << 8 | Int(b[l4 + 3])
        }
    }

    /// "udp 10.0.0.1:5060>10.0.0.2:5060" style key, "arp", "vlan10 ..." when tagged.
    var summary: String {
        let tag = vlan.map { "vlan\($0) " } ?? ""
        switch etherType {
        case 0x0806: return tag + "arp"
        case 0x0800, 0x86dd:
            let p = ipProto == 17 ? "udp" : ipProto == 6 ? "tcp" : "ip\(ipProto ?? -1)"
            let v = etherType == 0x86dd ? "6" : ""
            return tag + "\(p)\(v) \(src):\(sport ?? 0)>\(dst):\(dport ?? 0)"
        default: return tag + "eth 0x\(String(etherType, radix: 16))"
        }
    }

    var description: String { summary }
}

private func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

/// Reads every frame of a classic pcap file (a missing or empty file has none).
func readPcap(_ path: String) -> [CapturedFrame] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let b = [UInt8](data)
    guard b.count >= 24 else { return [] }
    let little = b[0] == 0xd4 || b[0] == 0x4d
    func u32(_ o: Int) -> Int {
        little ? Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24
               : Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
    }
    var frames: [CapturedFrame] = []
    var off = 24
    while off + 16 <= b.count {
        let len = u32(off + 8)
        off += 16
        guard len >= 0, off + len <= b.count else { break }
        frames.append(CapturedFrame(Array(b[off..<(off + len)])))
        off += len
    }
    return frames
}

/// Builders for `netdev-dummy/receive` flow strings.
enum Frames {
    static func udp4(src: String, dst: String, from: String, to: String, sport: Int, dport: Int, inPort: Int, vlan: Int? = nil) -> String {
        let l3 = "ipv4(src=\(from),dst=\(to),proto=17,tos=0,ttl=64,frag=no),udp(src=\(sport),dst=\(dport))"
        return eth(src: src, dst: dst, inPort: inPort, type: 0x0800, vlan: vlan, rest: l3)
    }

    /// One fragment of a UDP datagram: the first carries the UDP header, later ones do not.
    static func udp4Fragment(src: String, dst: String, from: String, to: String, sport: Int, dport: Int, inPort: Int, first: Bool) -> String {
        let l3 = first ? "ipv4(src=\(from),dst=\(to),proto=17,tos=0,ttl=64,frag=first),udp(src=\(sport),dst=\(dport))"
                       : "ipv4(src=\(from),dst=\(to),proto=17,tos=0,ttl=64,frag=later)"
        return eth(src: src, dst: dst, inPort: inPort, type: 0x0800, vlan: nil, rest: l3)
    }

    static func tcp4(src: String, dst: String, from: String, to: String, sport: Int, dport: Int, inPort: Int) -> String {
        let l3 = "ipv4(src=\(from),dst=\(to),proto=6,tos=0,ttl=64,frag=no),tcp(src=\(sport),dst=\(dport))"
        return eth(src: src, dst: dst, inPort: inPort, type: 0x0800, vlan: nil, rest: l3)
    }

    static func udp6(src: String, dst: String, from: String, to: String, sport: Int, dport: Int, inPort: Int) -> String {
        let l3 = "ipv6(src=\(from),dst=\(to),label=0,proto=17,tclass=0,hlimit=64,frag=no),udp(src=\(sport),dst=\(dport))"
        return eth(src: src, dst: dst, inPort: inPort, type: 0x86dd, vlan: nil, rest: l3)
    }

    static func arp(src: String, from: String, to: String, inPort: Int, vlan: Int? = nil) -> String {
        let l3 = "arp(sip=\(from),tip=\(to),op=1,sha=\(src),tha=00:00:00:00:00:00)"
        return eth(src: src, dst: "ff:ff:ff:ff:ff:ff", inPort: inPort, type: 0x0806, vlan: vlan, rest: l3)
    }

    private static func eth(src: String, dst: String, inPort: Int, type: Int, vlan: Int?, rest: String) -> String {
        let e = "in_port(\(inPort)),eth(src=\(src),dst=\(dst))"
        let t = String(format: "0x%04x", type)
        if let vlan { return "\(e),eth_type(0x8100),vlan(vid=\(vlan),pcp=0),encap(eth_type(\(t)),\(rest))" }
        return "\(e),eth_type(\(t)),\(rest)"
    }
}
