#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FlowPlanning
import Foundation
import OpenFlow
import Policy

/// A raw packet socket (AF_PACKET) on this node's interface of a bridge's media feed port: the frames
/// the copy flows output to it, read in batches on a Dispatch source, never written.
///
/// Opened only when the interface of that name exists here with the port's hardware address (a central
/// sipspan on another host finds none, or another bridge's) and is up. Bounded: one 64 KiB frame
/// buffer, at most `batch` frames per read event; the kernel's receive buffer absorbs bursts and its
/// drops are counted (PACKET_STATISTICS).
final class MediaFeedSocket: @unchecked Sendable {
    static let batch = 256
    static let frameLimit = 64 * 1024
    static let receiveBuffer: Int32 = 8 << 20

    let feed: MediaFeedPort
    private let fd: Int32
    private let source: DispatchSourceRead
    private var closed = false
    /// Shared by all feeds: they all run on one serial queue.
    nonisolated(unsafe) private static let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: frameLimit, alignment: 8)

    /// Each frame read; and once, why reading stopped (the interface went away or down).
    var onFrame: (([UInt8]) -> Void)?
    var onFailure: ((String) -> Void)?

    // <linux/if_packet.h>, <linux/if_ether.h>
    private static let ethPAll: UInt16 = 0x0003
    private static let solPacket: Int32 = 263
    private static let packetStatistics: Int32 = 6
    private static let packetIgnoreOutgoing: Int32 = 23

    /// struct sockaddr_ll
    private struct LinkAddress {
        var family: UInt16 = UInt16(AF_PACKET)
        var protocolBE: UInt16 = MediaFeedSocket.ethPAll.bigEndian
        var ifindex: Int32 = 0
        var hatype: UInt16 = 0
        var pkttype: UInt8 = 0
        var halen: UInt8 = 0
        var addr: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
    }

    /// Opens the feed, or throws why it cannot be used here.
    init(_ feed: MediaFeedPort, queue: DispatchQueue) throws {
        self.feed = feed
        let name = feed.name
        guard !name.isEmpty, name.utf8.count < 16, !name.contains("/"), name != ".", name != ".." else {
            throw SystemCallError(call: "feed port name '\(name)' is not an interface name", errno: 0)
        }
        let index = if_nametoindex(name)
        guard index != 0 else { throw SystemCallError(call: "no interface \(name) on this host (a central sipspan reads no feed)", errno: 0) }
        let here = MediaFeedSocket.sysfs(name, "address").flatMap { MACAddress($0) }
        guard here == feed.hardwareAddress else {
            throw SystemCallError(call: "interface \(name) here has address \(here?.description ?? "?"), the bridge's port \(feed.hardwareAddress): another host's or bridge's", errno: 0)
        }
        let flags = MediaFeedSocket.sysfs(name, "flags").flatMap { UInt32($0.dropFirst(2), radix: 16) } ?? 0
        guard flags & 1 != 0 else { throw SystemCallError(call: "interface \(name) is down (ip link set \(name) up)", errno: 0) }
        let fd = try Socket.check("socket(AF_PACKET)") {
            socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(MediaFeedSocket.ethPAll.bigEndian))
        }
        do {
            var address = LinkAddress()
            address.ifindex = Int32(bitPattern: index)
            try Socket.check("bind(\(name))") {
                withUnsafePointer(to: &address) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<LinkAddress>.size)) }
                }
            }
            // Frames this host sends on the interface (IPv6 neighbour discovery…) are not copies.
            Socket.setOption(fd, MediaFeedSocket.solPacket, MediaFeedSocket.packetIgnoreOutgoing, 1)
            // Root may exceed rmem_max (SO_RCVBUFFORCE); otherwise the plain request, capped by the kernel.
            var size = MediaFeedSocket.receiveBuffer
            if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
                Socket.setOption(fd, SOL_SOCKET, SO_RCVBUF, MediaFeedSocket.receiveBuffer)
            }
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        self.fd = fd
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        _ = takeDrops()
        source.setEventHandler { [weak self] in self?.readable() }
        source.setCancelHandler { _ = Glibc.close(fd) }
        source.resume()
    }

    /// Frames the kernel dropped since the last call (its receive buffer was full).
    func takeDrops() -> Int {
        var stats = (UInt32(0), UInt32(0))
        var length = socklen_t(MemoryLayout<(UInt32, UInt32)>.size)
        guard getsockopt(fd, MediaFeedSocket.solPacket, MediaFeedSocket.packetStatistics, &stats, &length) == 0 else { return 0 }
        return Int(stats.1)
    }

    /// Reads up to `batch` frames; `deliver` (the runtime's write batching) wraps their handling.
    var deliver: ((() -> Void) -> Void)?

    private func readable() {
        if let deliver { deliver { self.readBatch() } } else { readBatch() }
    }

    private func readBatch() {
        for _ in 0..<MediaFeedSocket.batch {
            guard !closed else { return }
            let n = recv(fd, MediaFeedSocket.buffer.baseAddress, MediaFeedSocket.frameLimit, Int32(MSG_DONTWAIT))
            if n >= 0 {
                if n > 0 { onFrame?(Array(UnsafeRawBufferPointer(rebasing: MediaFeedSocket.buffer[0..<n]))) }
                continue
            }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return }
            let why = String(cString: strerror(errno))
            close()
            onFailure?("reading \(feed.name) failed: \(why)")
            return
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        onFrame = nil
        source.cancel()
    }

    /// One short attribute of an interface from /sys/class/net (bounded read), trimmed.
    private static func sysfs(_ name: String, _ attribute: String) -> String? {
        guard let bytes = try? BoundedFile.read("/sys/class/net/\(name)/\(attribute)", limit: 256) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
