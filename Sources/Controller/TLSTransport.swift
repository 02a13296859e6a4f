#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

/// TLS settings for `ssl:` listeners: sipspan's key and certificate, and the CA that signed the switches'.
public struct TLSConfiguration: Sendable {
    public var privateKeyPath: String
    public var certificatePath: String
    /// CA certificate(s) that switch certificates must chain to (OVS: `ovs-pki`'s switchca/cacert.pem).
    public var caCertificatePath: String

    public init(privateKeyPath: String, certificatePath: String, caCertificatePath: String) {
        self.privateKeyPath = privateKeyPath; self.certificatePath = certificatePath; self.caCertificatePath = caCertificatePath
    }
}

/// An OpenSSL server context: TLS 1.2 or later, peer certificate required and verified.
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    init(_ c: TLSConfiguration) throws {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError.last("SSL_CTX_new") }
        context = ctx
        _ = sipspan_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        _ = sipspan_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        guard SSL_CTX_use_certificate_chain_file(ctx, c.certificatePath) == 1 else { throw TLSError.last("certificate \(c.certificatePath)") }
        guard SSL_CTX_use_PrivateKey_file(ctx, c.privateKeyPath, SSL_FILETYPE_PEM) == 1 else { throw TLSError.last("private key \(c.privateKeyPath)") }
        guard SSL_CTX_check_private_key(ctx) == 1 else { throw TLSError.last("key does not match certificate") }
        guard SSL_CTX_load_verify_locations(ctx, c.caCertificatePath, nil) == 1 else { throw TLSError.last("CA \(c.caCertificatePath)") }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
    }

    deinit { SSL_CTX_free(context) }
}

/// Why TLS could not be set up, with OpenSSL's error queue.
public struct TLSError: Error, CustomStringConvertible {
    public let description: String

    static func last(_ what: String) -> TLSError {
        TLSError(description: "\(what): \(drainErrors())")
    }

    static func drainErrors() -> String {
        var parts: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            parts.append(cString(buf))
        }
        return parts.isEmpty ? "unknown error" : parts.joined(separator: "; ")
    }
}

/// TLS over a non-blocking socket. The handshake happens inside the first reads and writes;
/// `wantsWritable` tells the connection whether OpenSSL is waiting for the socket to become writable.
final class TLSTransport: Transport {
    let fd: Int32
    private let ssl: OpaquePointer
    private var closed = false
    /// After a fatal error (a reset, a protocol error) OpenSSL must not send close_notify.
    private var failed = false
    private(set) var wantsWritable = false

    init(fd: Int32, context: TLSContext) throws {
        guard let s = SSL_new(context.context) else { throw TLSError.last("SSL_new") }
        ssl = s
        self.fd = fd
        SSL_set_fd(s, fd)
        SSL_set_accept_state(s)
    }

    /// Decrypted or still-encrypted input inside OpenSSL (a handshake step run from a write may have
    /// pulled the peer's next records off the socket, which no read event will announce).
    var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    private func outcome(_ n: Int32) -> IOResult {
        if n > 0 { wantsWritable = false; return .bytes(Int(n)) }
        let err = SSL_get_error(ssl, n)
        switch err {
        case SSL_ERROR_WANT_READ: wantsWritable = false; return .wouldBlock
        case SSL_ERROR_WANT_WRITE: wantsWritable = true; return .wouldBlock
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL:
            failed = true
            let e = errno
            _ = TLSError.drainErrors()
            return n == 0 || e == 0 ? .closed : .failed("TLS: \(String(cString: strerror(e)))")
        default:
            failed = true
            return .failed("TLS: \(TLSError.drainErrors())")
        }
    }

    /// Whether the TLS handshake has completed. Application data is neither read nor written before:
    /// the handshake is driven explicitly, so a write queued at accept time never leaves OpenSSL
    /// waiting for input that only the (already consumed) handshake could have brought.
    private var handshakeDone = false

    /// Advances the handshake; `.bytes(0)` once it is complete.
    var peerCommonName: String? {
        guard handshakeDone else { return nil }
        var buf = [CChar](repeating: 0, count: 256)
        let n = sipspan_peer_common_name(ssl, &buf, Int32(buf.count))
        return n < 0 ? nil : cString(buf)
    }

    private func handshake() -> IOResult {
        guard !handshakeDone else { return .bytes(0) }
        ERR_clear_error()
        let r = SSL_do_handshake(ssl)
        if r == 1 { handshakeDone = true; wantsWritable = false; return .bytes(0) }
        return outcome(r)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        if case let step = handshake(), step != .bytes(0) { return step }
        ERR_clear_error()
        return outcome(SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max)))))
    }

    func write(_ buffer: UnsafeRawBufferPointer) -> IOResult {
        if case let step = handshake(), step != .bytes(0) { return step }
        ERR_clear_error()
        return outcome(SSL_write(ssl, buffer.baseAddress, Int32(min(buffer.count, 1 << 20))))
    }

    func close() {
        guard !closed else { return }
        closed = true
        // close_notify only on a healthy connection; the process ignores SIGPIPE besides, so a write
        // to a peer that reset never kills it.
        if !failed { _ = SSL_shutdown(ssl) }
        SSL_free(ssl)
        _ = Glibc.close(fd)
    }
}
