#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation

/// A minimal HTTP/1.0 endpoint on Dispatch sources: `GET /status` (JSON), `GET /metrics`
/// (Prometheus text), `POST /plan` (a dry run). One request per connection; requests are bounded
/// (8 KiB of headers, `maximumBody` of body, 5 s).
public final class StatusServer: @unchecked Sendable {
    private let queue = DispatchQueue(label: "sipspan.status")
    private var listener: Listener?
    private var clients: [Int32: Client] = [:]
    /// One request as the routes see it.
    public struct Request: Sendable {
        public let method: String
        public let path: String
        public let body: [UInt8]
    }
    public static let maximumBody = 4 << 20
    private let routes: @Sendable (Request) -> Response

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
    public init(routes: @escaping @Sendable (Request) -> Response) {
        self.routes = routes
    }

    /// Listens on "HOST:PORT"; returns the bound address.
    @discardableResult
    public func start(_ address: String) throws -> String {
        guard let listen = ListenAddress(address) else { throw SystemCallError(call: "invalid status address '\(address)'", errno: 0) }
        if case .ssl = listen { throw SystemCallError(call: "the status endpoint speaks plain HTTP: use HOST:PORT or unix:/PATH", errno: 0) }
        return try queue.sync {
            let l = try Listener(listen, queue: queue) { [weak self] fd, _ in
                if let self { self.accepted(fd) } else { _ = Glibc.close(fd) }
            }
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
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { Glibc.read(c.fd, $0.baseAddress, $0.count) }
        if n <= 0 { if n == 0 || (errno != EAGAIN && errno != EINTR) { finish(c) }; return }
        c.request += buf[0..<n]
        guard let end = c.request.firstRange(of: [13, 10, 13, 10]) ?? c.request.firstRange(of: [10, 10]) else {
            if c.request.count > 8192 { respond(c, .text(.payloadTooLarge, "request too large\n")) }
            return
        }
        guard end.lowerBound <= 8192 else { respond(c, .text(.payloadTooLarge, "headers too large\n")); return }
        let head = String(decoding: c.request[..<end.lowerBound], as: UTF8.self)
        let lines = head.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" })
        let parts = lines.first?.split(separator: " ") ?? []
        guard parts.count >= 2, parts[0] == "GET" || parts[0] == "POST" else {
            respond(c, .text(.methodNotAllowed, "GET or POST only\n")); return
        }
        var length = 0
        for line in lines.dropFirst() {
            let kv = line.split(separator: ":", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "content-length" {
                guard let v = Int(kv[1].trimmingCharacters(in: .whitespaces)), v >= 0 else {
                    respond(c, .text(.badRequest, "bad Content-Length\n")); return
                }
                length = v
            }
        }
        guard length <= StatusServer.maximumBody else { respond(c, .text(.payloadTooLarge, "body too large\n")); return }
        let body = c.request[end.upperBound...]
        guard body.count >= length else { return } // wait for the rest (bounded by the 5 s expiry)
        let path = String(parts[1].split(separator: "?").first ?? "")
        respond(c, routes(Request(method: String(parts[0]), path: path, body: Array(body.prefix(length)))))
    }

    private func respond(_ c: Client, _ r: Response) {
        c.source.suspend()
        c.readSuspended = true
        c.response = Array("HTTP/1.0 \(r.status)\r\nContent-Type: \(r.contentType)\r\nContent-Length: \(r.body.count)\r\nConnection: close\r\n\r\n".utf8) + r.body
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
