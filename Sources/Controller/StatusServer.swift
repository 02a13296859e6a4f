#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// A minimal HTTP/1.0 endpoint on Dispatch sources: `GET /status` (JSON) and `GET /metrics`
/// (Prometheus text). One request per connection; requests are bounded (8 KiB of headers, 5 s).
public final class StatusServer: @unchecked Sendable {
    private let queue = DispatchQueue(label: "sipspan.status")
    private var listener: Listener?
    private var clients: [Int32: Client] = [:]
    private let routes: @Sendable (String) -> (status: String, type: String, body: [UInt8])

    final class Client {
        let fd: Int32
        let source: DispatchSourceRead
        var request: [UInt8] = []
        var response: [UInt8] = []
        var written = 0
        var writer: DispatchSourceWrite?
        var readSuspended = false
        let opened = Date()
        init(fd: Int32, source: DispatchSourceRead) { self.fd = fd; self.source = source }
    }

    /// `routes` maps a path to a response; it runs on the server's own queue.
    public init(routes: @escaping @Sendable (String) -> (status: String, type: String, body: [UInt8])) {
        self.routes = routes
    }

    /// Listens on "HOST:PORT"; returns the bound address.
    @discardableResult
    public func start(_ address: String) throws -> String {
        guard let (host, port) = parseHostPort(address) else { throw SystemCallError(call: "invalid status address '\(address)'", errno: 0) }
        return try queue.sync {
            let l = try Listener(host: host, port: port, queue: queue) { [unowned self] fd, _ in self.accepted(fd) }
            listener = l
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + 1, repeating: 1)
            t.setEventHandler { [weak self] in self?.expire() }
            t.resume()
            timer = t
            return l.address
        }
    }

    private var timer: DispatchSourceTimer?

    private func accepted(_ fd: Int32) {
        guard clients.count < 64 else { _ = Glibc.close(fd); return }
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let c = Client(fd: fd, source: source)
        clients[fd] = c
        source.setEventHandler { [weak self] in self?.readable(c) }
        source.setCancelHandler { _ = Glibc.close(fd) }
        source.resume()
    }

    private func readable(_ c: Client) {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { Glibc.read(c.fd, $0.baseAddress, $0.count) }
        if n <= 0 { if n == 0 || (errno != EAGAIN && errno != EINTR) { finish(c) }; return }
        c.request += buf[0..<n]
        guard c.request.count <= 8192 else { respond(c, "413 Payload Too Large", "text/plain", Array("request too large\n".utf8)); return }
        guard let end = c.request.firstRange(of: [13, 10, 13, 10]) ?? c.request.firstRange(of: [10, 10]) else { return }
        let head = String(decoding: c.request[..<end.lowerBound], as: UTF8.self)
        let parts = head.split(separator: "\n").first?.split(separator: " ") ?? []
        guard parts.count >= 2, parts[0] == "GET" else { respond(c, "405 Method Not Allowed", "text/plain", Array("GET only\n".utf8)); return }
        let path = String(parts[1].split(separator: "?").first ?? "")
        let r = routes(path)
        respond(c, r.status, r.type, r.body)
    }

    private func respond(_ c: Client, _ status: String, _ type: String, _ body: [UInt8]) {
        c.source.suspend()
        c.readSuspended = true
        c.response = Array("HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
        let w = DispatchSource.makeWriteSource(fileDescriptor: c.fd, queue: queue)
        w.setEventHandler { [weak self] in self?.writable(c) }
        c.writer = w
        w.resume()
    }

    private func writable(_ c: Client) {
        let n = c.response.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.written, $0.count - c.written, Int32(MSG_NOSIGNAL)) }
        if n > 0 { c.written += n }
        if c.written >= c.response.count || (n < 0 && errno != EAGAIN && errno != EINTR) { finish(c) }
    }

    /// Cancels the sources; the socket is closed by the read source's cancel handler, after the
    /// write source (if any) is gone, as Dispatch requires.
    private func finish(_ c: Client) {
        guard clients.removeValue(forKey: c.fd) != nil else { return }
        let closeRead = {
            if c.readSuspended { c.readSuspended = false; c.source.resume() }
            c.source.cancel()
        }
        if let w = c.writer {
            w.setCancelHandler(handler: closeRead)
            w.cancel()
        } else {
            closeRead()
        }
    }

    private func expire() {
        for c in clients.values where Date().timeIntervalSince(c.opened) > 5 { finish(c) }
    }

    public func stop() {
        queue.sync {
            timer?.cancel()
            listener?.stop()
            for c in Array(clients.values) { finish(c) }
        }
    }
}
