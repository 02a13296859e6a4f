#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Accepts TCP connections on a non-blocking listening socket through a Dispatch read source.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let address: String
    private let source: DispatchSourceRead
    private let onAccept: (Int32, String) -> Void

    init(host: String, port: UInt16, queue: DispatchQueue, onAccept: @escaping (Int32, String) -> Void) throws {
        fd = try Socket.listen(host: host, port: port)
        let bound = Socket.localPort(fd) ?? port
        address = host.contains(":") ? "[\(host)]:\(bound)" : "\(host):\(bound)"
        self.onAccept = onAccept
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in self?.acceptAll() }
        let fd = self.fd
        source.setCancelHandler { _ = Glibc.close(fd) }
        source.resume()
    }

    var port: UInt16 { Socket.localPort(fd) ?? 0 }

    private func acceptAll() {
        for _ in 0..<256 {
            var storage = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &len) }
            }
            if client < 0 {
                if errno == EINTR { continue }
                return // EAGAIN, or a transient error (EMFILE, ECONNABORTED): wait for the next event
            }
            let peer = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Socket.describe($0, len) } }
            do {
                try Socket.setNonBlocking(client)
                Socket.setOption(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                onAccept(client, peer)
            } catch {
                _ = Glibc.close(client)
            }
        }
    }

    func stop() { source.cancel() }
}
