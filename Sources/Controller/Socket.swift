import ControllerCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A failed system call: its name and errno.
public struct SystemCallError: Error, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public init(call: String, errno: Int32) { self.call = call; self.errno = errno }
    public var description: String { errno == 0 ? call : "\(call): \(String(cString: strerror(errno)))" }
}

/// The one seam for POSIX socket calls: retries EINTR, turns -1 into a thrown `SystemCallError`.
enum Socket {
    @discardableResult
    static func check(_ call: String, _ body: () -> Int32) throws -> Int32 {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw SystemCallError(call: call, errno: errno)
        }
    }

    static func setNonBlocking(_ fd: Int32) throws {
        let flags = try check("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        try check("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening, non-blocking TCP socket on `host:port` (IPv4 or IPv6 literal, or a name).
    static func listen(host: String, port: UInt16, backlog: Int32 = 1024) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw SystemCallError(call: "getaddrinfo(\(host)): \(String(cString: gai_strerror(rc)))", errno: 0)
        }
        defer { freeaddrinfo(result) }
        let ai = first.pointee
        let fd = try check("socket") { socket(ai.ai_family, ai.ai_socktype, ai.ai_protocol) }
        return try listening(fd, backlog: backlog) {
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            try check("bind \(host):\(port)") { bind(fd, ai.ai_addr, ai.ai_addrlen) }
        }
    }

    /// Binds `fd` (with `bind`), listens and makes it non-blocking; closes it on any failure.
    private static func listening(_ fd: Int32, backlog: Int32, bind: () throws -> Void) throws -> Int32 {
        do {
            try bind()
            try check("listen") { Glibc.listen(fd, backlog) }
            try setNonBlocking(fd)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// A listening, non-blocking unix stream socket at `path`, mode 0600 (only root, or the service's
    /// user, may connect). A stale socket file is replaced; a path that is something else, a socket
    /// another process listens on, or a missing directory is a clear error.
    static func listenUnix(path: String, backlog: Int32 = 1024) throws -> Int32 {
        let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var st = stat()
        guard stat(dir.isEmpty ? "/" : dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SystemCallError(call: "unix:\(path): directory \(dir) does not exist", errno: 0)
        }
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemCallError(call: "unix:\(path) exists and is not a socket; remove it or choose another path", errno: 0)
            }
            if let probe = try? connectUnix(path) {
                close(probe)
                throw SystemCallError(call: "unix:\(path): another process is listening there (is sipspan already running?)", errno: 0)
            }
            unlink(path) // a stale socket of a process that is gone
        }
        let fd = try check("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0) }
        return try listening(fd, backlog: backlog) {
            var addr = try unixAddress(path)
            try check("bind unix:\(path)") {
                withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            }
            // Before listen(): nobody can connect yet. Connecting needs write permission on the file.
            try check("chmod unix:\(path)") { chmod(path, 0o600) }
        }
    }

    /// A blocking connection to a unix stream socket.
    static func connectUnix(_ path: String) throws -> Int32 {
        let fd = try check("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0) }
        var addr = try unixAddress(path)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw SystemCallError(call: "connect unix:\(path)", errno: e)
        }
        return fd
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SystemCallError(call: "unix socket path too long: \(path)", errno: 0) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return addr
    }

    /// The numeric "address:port" of a socket address.
    /// The numeric address of a peer (`accept`'s sockaddr).
    static func peerAddress(_ addr: UnsafePointer<sockaddr>, _ len: socklen_t) -> PeerAddress {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        guard getnameinfo(addr, len, &host, socklen_t(host.count), &serv, socklen_t(serv.count), NI_NUMERICHOST | NI_NUMERICSERV) == 0 else {
            return .inet(host: "?", port: 0)
        }
        return .inet(host: cString(host), port: UInt16(cString(serv)) ?? 0)
    }

    /// The local port a socket is bound to (useful with port 0).
    static func localPort(_ fd: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { return nil }
        if Int32(storage.ss_family) == AF_INET {
            return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) } }
        }
        return withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) } }
    }
}

/// Parses "HOST:PORT", "[V6]:PORT" or ":PORT".
public func parseHostPort(_ text: String) -> (host: String, port: UInt16)? {
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
        let host = String(text[text.index(after: text.startIndex)..<close])
        let rest = text[text.index(after: close)...]
        guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
        return (host, port)
    }
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
    return (String(text[..<colon]), port)
}

func cString(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
