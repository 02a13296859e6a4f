/// Where sipspan listens: `tcp:HOST:PORT` (or plain `HOST:PORT`), `ssl:HOST:PORT`, `unix:PATH`.
public enum ListenAddress: Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case ssl(host: String, port: UInt16)
    case unix(path: String)

    public init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/"), path.utf8.count < 108, !path.contains("\0") else { return nil }
            self = .unix(path: path)
            return
        }
        let secure = text.hasPrefix("ssl:")
        let rest = secure || text.hasPrefix("tcp:") ? String(text.dropFirst(4)) : text
        guard let (host, port) = parseHostPort(rest) else { return nil }
        self = secure ? .ssl(host: host, port: port) : .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case let .tcp(h, p): return h.contains(":") ? "[\(h)]:\(p)" : "\(h):\(p)"
        case let .ssl(h, p): return "ssl:" + (h.contains(":") ? "[\(h)]:\(p)" : "\(h):\(p)")
        case let .unix(path): return "unix:\(path)"
        }
    }

    /// Whether connections to it speak TLS.
    public var isTLS: Bool { if case .ssl = self { return true }; return false }

    /// Whether only this machine can reach it (loopback or a unix socket).
    public var isLocal: Bool {
        switch self {
        case .unix: return true
        case let .tcp(h, _), let .ssl(h, _): return h == "localhost" || h == "::1" || h.hasPrefix("127.")
        }
    }
}
