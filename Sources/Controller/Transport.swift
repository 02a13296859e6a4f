#if canImport(Glibc)
import Glibc
#endif

/// Outcome of one non-blocking read or write.
enum IOResult: Equatable {
    case bytes(Int)
    case wouldBlock
    case closed
    case failed(String)
}

/// A byte stream over a non-blocking socket: plain TCP or TLS.
protocol Transport: AnyObject {
    var fd: Int32 { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult
    func write(_ buffer: UnsafeRawBufferPointer) -> IOResult
    /// True when the last call would block until the socket becomes writable (a full send buffer,
    /// or TLS needing to write); false when it waits for input (TLS handshake wanting to read).
    var wantsWritable: Bool { get }
    /// True when decrypted input is buffered inside the transport (TLS), which no read event signals.
    var hasBufferedInput: Bool { get }
    /// The verified peer certificate's common name (TLS), nil otherwise.
    var peerCommonName: String? { get }
    func close()
}

/// Plain TCP.
final class TCPTransport: Transport {
    let fd: Int32
    private var closed = false

    private(set) var wantsWritable = false

    init(fd: Int32) { self.fd = fd }

    var hasBufferedInput: Bool { false }
    var peerCommonName: String? { nil }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .failed(String(cString: strerror(errno)))
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { wantsWritable = false; return .bytes(n) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { wantsWritable = true; return .wouldBlock }
            return .failed(String(cString: strerror(errno)))
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(fd)
    }
}
