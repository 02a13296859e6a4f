import SIPMedia

/// libFuzzer target: SIP messages, SDP bodies and whole frames (issue 20's parsers) on arbitrary bytes:
/// a value or a typed error, bounded, never a trap; what parses is used as the media code would use it,
/// including a call table fed the message (split in two, each half a message of one call).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSIP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var table = CallTable(limits: CallTable.Limits(maxCalls: 4, maxForks: 2))
    for part in [bytes, Array(bytes.prefix(size / 2)), Array(bytes.dropFirst(size / 2))] {
        if case let .success(m) = SIPMessage.parse(part) {
            for change in table.handle(m, now: UInt64(size) * 1_000_000) {
                if case let .media(_, negotiated) = change {
                    for n in negotiated { _ = mediaEndpoints(offer: n.offer, answer: n.answer, selection: .rtp) }
                }
            }
            if let body = m.sdp, case let .success(sdp) = SessionDescription.parse(body) {
                precondition(sdp.media.count <= SessionDescription.maximumMedia, "media lines are bounded")
                _ = mediaEndpoints(offer: sdp, answer: sdp, selection: .rtp)
            }
        }
    }
    precondition(table.count <= 4, "the call table is bounded")
    _ = table.expire(now: .max)
    if case let .success(sdp) = SessionDescription.parse(bytes) {
        _ = mediaEndpoints(offer: sdp, answer: sdp, selection: .rtcp)
    }
    if case let .success(frame) = SIPFrame.decode(bytes) {
        precondition(frame.payload.count <= size, "the payload is inside the frame")
        _ = SIPMessage.parse(frame.payload)
    }
    _ = canonicalIPAddress(String(decoding: bytes.prefix(64), as: UTF8.self))
    return 0
}
