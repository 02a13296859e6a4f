import OpenFlow

/// Where a copy goes: a local monitor port, or a remote collector through a tunnel port.
public enum DeliveryTarget: Hashable, Comparable, Sendable, CustomStringConvertible {
    case port(UInt32)
    /// `set_field:ADDRESS->tun_dst, set_field:KEY->tun_id, output:PORT`.
    case tunnel(port: UInt32, address: [UInt8], key: UInt32)

    public static func < (a: DeliveryTarget, b: DeliveryTarget) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// A canonical encoding: the sort order and the hash input of a delivery set.
    var bytes: [UInt8] {
        switch self {
        case let .port(p): return [0] + be32(p)
        case let .tunnel(p, a, k): return [1] + be32(p) + a + be32(k)
        }
    }

    /// The actions that deliver one copy here.
    var actions: [Action] {
        switch self {
        case let .port(p): return [.output(p)]
        case let .tunnel(p, a, k): return [.setField(.tunIPv4Dst(a)), .setField(.tunID(UInt64(k))), .output(p)]
        }
    }

    public var description: String {
        switch self {
        case let .port(p): return "port \(p)"
        case let .tunnel(p, a, k): return "tunnel \(p) to \(a.map(String.init).joined(separator: ".")) key \(k)"
        }
    }
}

private func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

/// The metadata value naming a set of delivery targets in table 1: the port number itself for one
/// local monitor (readable in dump-flows), a tagged 63-bit FNV-1a hash of the sorted targets otherwise.
public func deliveryID(_ targets: [DeliveryTarget]) -> UInt64 {
    if targets.count == 1, case let .port(p) = targets[0] { return UInt64(p) }
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for t in targets.sorted() {
        for b in t.bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
    }
    return 0x8000_0000_0000_0000 | (h & 0x7fff_ffff_ffff_ffff)
}

/// Monitor ports only (the common case).
public func deliveryID(_ sortedPorts: [UInt32]) -> UInt64 { deliveryID(sortedPorts.map { DeliveryTarget.port($0) }) }

/// The fewest value/mask pairs whose union is exactly `first...last` (a range is a set of prefixes).
public func portPrefixes(_ first: UInt16, _ last: UInt16) -> [(value: UInt16, mask: UInt16)] {
    var out: [(UInt16, UInt16)] = []
    var a = UInt32(min(first, last))
    let b = UInt32(max(first, last))
    while a <= b {
        var size: UInt32 = 1
        while size < 65536, a % (size * 2) == 0, a + size * 2 - 1 <= b { size *= 2 }
        out.append((UInt16(a), UInt16(truncatingIfNeeded: ~(size - 1))))
        a += size
    }
    return out
}
