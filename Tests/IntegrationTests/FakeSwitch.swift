import Foundation
import OpenFlow
import TestSupport

/// A scripted OpenFlow 1.3 switch on a blocking socket, for peers OVS will not impersonate: one that
/// announces absurd numbers of ports, or one that stops reading. It answers the handshake and sync
/// like OVS would (features, port list, an empty flow table, barriers, echoes).
final class FakeSwitch {
    let peer: RawPeer
    let datapathID: UInt64
    let ports: [PortDescription]
    private var framer = Framer()
    private(set) var flowMods = 0

    init(port: UInt16, datapathID: UInt64, ports: [PortDescription]) throws {
        peer = try RawPeer(port: port)
        self.datapathID = datapathID
        self.ports = ports
        send(.hello(versions: [4]), xid: 1)
    }

    func send(_ m: Message, xid: UInt32) { peer.send(m.encoded(xid: xid)) }

    /// Answers what arrives for up to `seconds`, or until `until` holds; false if the connection closed.
    @discardableResult
    func pump(seconds: Double, until: (() -> Bool)? = nil) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            if until?() == true { return true }
            let n = buffer.withUnsafeMutableBytes { recv(peer.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return false }
            if n < 0 { if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }; return false }
            framer.append(buffer[0..<n])
            while let frame = try? framer.nextFrame(), let (h, m) = try? Message.decode(frame) { answer(m, xid: h.xid) }
        }
        return true
    }

    private func answer(_ m: Message, xid: UInt32) {
        switch m {
        case .featuresRequest: send(.featuresReply(SwitchFeatures(datapathID: datapathID)), xid: xid)
        case .multipartRequest(.portDesc, _):
            // Split like OVS does, with the MORE flag, 500 ports per reply.
            let chunks = stride(from: 0, to: max(ports.count, 1), by: 500).map { Array(ports[$0..<min($0 + 500, ports.count)]) }
            for (i, c) in chunks.enumerated() { send(.multipartReply(.portDesc(c), flags: i < chunks.count - 1 ? multipartFlagMore : 0), xid: xid) }
        case .multipartRequest(.flow, _): send(.multipartReply(.flow([]), flags: 0), xid: xid)
        case .barrierRequest: send(.barrierReply, xid: xid)
        case let .echoRequest(d): send(.echoReply(d), xid: xid)
        case .flowMod: flowMods += 1
        default: break
        }
    }
}
