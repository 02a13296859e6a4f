import SIPMedia

/// libFuzzer target: SIP messages and SDP bodies (issue 20's parsers) on arbitrary bytes: a value
/// or a typed error, bounded, never a trap; what parses is used as the media code would use it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSIP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if case let .success(m) = SIPMessage.parse(bytes), let body = m.sdp, case let .success(sdp) = SessionDescription.parse(body) {
        precondition(sdp.media.count <= SessionDescription.maximumMedia, "media lines are bounded")
        _ = mediaEndpoints(offer: sdp, answer: sdp, selection: .rtp)
    }
    if case let .success(sdp) = SessionDescription.parse(bytes) {
        _ = mediaEndpoints(offer: sdp, answer: sdp, selection: .rtcp)
    }
    return 0
}
