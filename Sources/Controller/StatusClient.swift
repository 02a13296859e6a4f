#if canImport(Glibc)
import Glibc
#endif

/// The client side of the status endpoint (`sipspan status`, `sipspan plan`): one HTTP/1.0 request
/// over a blocking socket (TCP or unix) with a 5 s timeout, bounded reply.
public enum StatusClient {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sends GET (no body) or POST (with `body`) and returns the body of a 200 reply.
    public static func request(_ address: String, path: String, body: [UInt8]? = nil) throws -> [UInt8] {
        guard let target = ListenAddress(address) else { throw Failure(description: "expected HOST:PORT or unix:/PATH, got '\(address)'") }
        let fd: Int32
        switch target {
        case let .unix(path): fd = try Socket.connectUnix(path)
        case let .tcp(host, port), let .ssl(host, port): fd = try connectTCP(host: host, port: port)
        }
        defer { close(fd) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var request = Array("\(body == nil ? "GET" : "POST") \(path) HTTP/1.0\r\nHost: sipspan\r\n".utf8)
        if let body { request += Array("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n".utf8) }
        request += Array("\r\n".utf8) + (body ?? [])
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw SystemCallError(call: "send", errno: errno) }
            sent += n
        }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while response.count < 64 << 20 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buf[0..<n]
        }
        guard let sep = response.firstRange(of: [13, 10, 13, 10]) else { throw Failure(description: "malformed or no reply") }
        let head = String(decoding: response[..<sep.lowerBound], as: UTF8.self)
        let replyBody = Array(response[sep.upperBound...])
        guard head.hasPrefix("HTTP/1.0 200") || head.hasPrefix("HTTP/1.1 200") else {
            let status = head.split(separator: "\r\n").first.map(String.init) ?? "?"
            throw Failure(description: "\(status): \(String(decoding: replyBody.prefix(500), as: UTF8.self))")
        }
        return replyBody
    }

    private static func connectTCP(host: String, port: UInt16) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw Failure(description: "cannot resolve \(host)") }
        defer { freeaddrinfo(res) }
        let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard fd >= 0 else { throw SystemCallError(call: "socket", errno: errno) }
        guard connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(fd)
            throw SystemCallError(call: "connect", errno: e)
        }
        return fd
    }
}
