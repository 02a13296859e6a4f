/// Where a switch connection comes from, as the listener accepted it.
public enum PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// A unix socket (the per-node mode); the path is the listener's.
    case unix(path: String)
    /// A TCP peer: numeric host (IPv4 or IPv6) and port.
    case inet(host: String, port: UInt16)

    /// `unix:/var/run/openvswitch/sipspan.sock`, `192.0.2.11:40212` or `[2001:db8::1]:40212`.
    public var description: String {
        switch self {
        case let .unix(path): return "unix:\(path)"
        case let .inet(host, port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    /// The numeric host of a TCP peer, nil for a unix socket.
    public var host: String? {
        if case let .inet(host, _) = self { return host }
        return nil
    }

    /// Whether the peer runs on this machine (a unix socket or loopback).
    public var isLocal: Bool {
        switch self {
        case .unix: return true
        case let .inet(host, _): return host == "::1" || host.hasPrefix("127.") || host == "::ffff:127.0.0.1"
        }
    }
}

/// One accepted connection, numbered in accept order.
public struct ConnectionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: Int
    public init(_ value: Int) { self.value = value }
    public static func < (a: ConnectionID, b: ConnectionID) -> Bool { a.value < b.value }
    public var description: String { "#\(value)" }
}
