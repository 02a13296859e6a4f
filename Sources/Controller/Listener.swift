#if canImport(Glibc)
import Glibc
#endif
import ControllerCore
import Dispatch

/// Accepts TCP connections on a non-blocking listening socket through a Dispatch read source.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let address: String
    private let source: DispatchSourceRead
    private let queue: DispatchQueue
    private let onAccept: (Int32, PeerAddress) -> Void
    /// Called (on the queue) when accepting pauses because the process or system is out of descriptors.
    var onPause: ((_ error: Int32, _ seconds: Double) -> Void)?
    private var paused = false
    private var stopped = false
    /// How long accepting pauses after EMFILE/ENFILE: the pending connections wait in the backlog
    /// instead of waking the listener in a busy loop.
    static let pauseAfterExhaustion = 0.5

    private let unixPath: String?

    /// Listens on a TCP address (`ssl:` is TCP here; TLS is the caller's) or a unix socket.
    init(_ listen: ListenAddress, queue: DispatchQueue, onAccept: @escaping (Int32, PeerAddress) -> Void) throws {
        switch listen {
        case let .tcp(host, port), let .ssl(host, port):
            fd = try Socket.listen(host: host, port: port)
            let bound = Socket.localPort(fd) ?? port
            address = host.contains(":") ? "[\(host)]:\(bound)" : "\(host):\(bound)"
            unixPath = nil
        case let .unix(path):
            fd = try Socket.listenUnix(path: path)
            address = "unix:\(path)"
            unixPath = path
        }
        self.onAccept = onAccept
        self.queue = queue
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in self?.acceptAll() }
        let fd = self.fd
        source.setCancelHandler { _ = Glibc.close(fd) }
        source.resume()
    }

    private func acceptAll() {
        for _ in 0..<256 {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &len) }
            }
            if client < 0 {
                let e = errno
                switch e {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM: pause(e); return
                default: return // EAGAIN: nothing more to accept
                }
            }
            let peer = unixPath.map { PeerAddress.unix(path: $0) }
                ?? withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.peerAddress($0, len) } }
            do {
                try Socket.setNonBlocking(client)
                if unixPath == nil { Socket.setOption(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }
                onAccept(client, peer)
            } catch {
                _ = Glibc.close(client)
            }
        }
    }

    /// Stops watching the socket for a while; the read source would otherwise fire at once, forever.
    private func pause(_ error: Int32) {
        guard !paused, !stopped else { return }
        paused = true
        source.suspend()
        onPause?(error, Listener.pauseAfterExhaustion)
        queue.asyncAfter(deadline: .now() + Listener.pauseAfterExhaustion) { [weak self] in
            guard let self, self.paused else { return }
            self.paused = false
            self.source.resume()
        }
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        if paused { paused = false; source.resume() }
        source.cancel()
        if let unixPath { unlink(unixPath) }
    }
}
